"""How clients reach a lab host: the SSH server (sshd), the POSIX shell that runs each exec request
(shell), and the virtual files behind both and SFTP (vfs)."""
