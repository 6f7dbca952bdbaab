"""SSH plumbing shared by every provider that changes a host.

One connection per host per provider process, host keys checked against the site's known_hosts
(or a key pinned in the stack), and every remote command built from quoted arguments.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shlex
import stat
import threading
from dataclasses import dataclass

import paramiko


class HostKeyError(Exception):
    """The host's key is not the one the stack trusts."""


class RemoteCommandError(Exception):
    """A remote command failed; the message names the host, the command and its output."""

    def __init__(self, host: str, command: str, result: "Result"):
        self.host, self.command, self.result = host, command, result
        detail = (result.stderr or result.stdout).strip()
        super().__init__(f"{host}: `{command}` exited with status {result.exit_status}: {detail}")


@dataclass(frozen=True)
class Result:
    exit_status: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Host:
    """Where and how to reach one host; plain data, so it can live in resource properties."""

    name: str
    address: str
    port: int
    user: str
    known_hosts: str

    @classmethod
    def from_props(cls, props: dict) -> "Host":
        return cls(
            name=props["name"],
            address=props["address"],
            port=int(props["port"]),
            user=props["user"],
            known_hosts=props["knownHosts"],
        )

    def to_props(self) -> dict:
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "user": self.user,
            "knownHosts": self.known_hosts,
        }

    @property
    def known_hosts_name(self) -> str:
        """The host's name as OpenSSH writes it in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _PinnedKeysOnly(paramiko.MissingHostKeyPolicy):
    """Refuses an unknown host, saying what it offered and how to trust it."""

    def __init__(self, host: Host):
        self.host = host

    def missing_host_key(self, client, hostname, key):
        raise HostKeyError(
            f"{self.host.name} ({self.host.address}:{self.host.port}) offered the {key.get_name()} host key "
            f"{fingerprint(key)}, which the stack does not trust. If that is the host's real key, add this "
            f"line to the known_hosts file named by the `ssh.knownHostsFile` setting, or pin it as "
            f"`hosts.{self.host.name}.hostKey`:\n"
            f"{self.host.known_hosts_name} {key.get_name()} {key.get_base64()}"
        )


def load_private_key(text: str) -> paramiko.PKey:
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise ValueError("the `sshPrivateKey` setting is not an OpenSSH or PEM private key (ed25519, ecdsa or rsa)")


def _trusted_keys(client: paramiko.SSHClient, known_hosts: str) -> None:
    keys = client.get_host_keys()
    for line in known_hosts.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        if entry is None:
            continue
        for name in entry.hostnames:
            keys.add(name, entry.key.get_name(), entry.key)


class Connection:
    """An open SSH connection to one host."""

    def __init__(self, host: Host, private_key: str, timeout: float = 30.0):
        self.host = host
        self.client = paramiko.SSHClient()
        _trusted_keys(self.client, host.known_hosts)
        self.client.set_missing_host_key_policy(_PinnedKeysOnly(host))
        try:
            self.client.connect(
                host.address,
                port=host.port,
                username=host.user,
                pkey=load_private_key(private_key),
                allow_agent=False,
                look_for_keys=False,
                timeout=timeout,
            )
        except paramiko.BadHostKeyException as err:
            raise HostKeyError(
                f"{host.name} ({host.address}:{host.port}) now offers the host key {fingerprint(err.key)}, "
                f"not the trusted {fingerprint(err.expected_key)}. The host was reinstalled or something is "
                f"in the way: check it before you replace its line in the known_hosts file."
            ) from err
        self._sftp: paramiko.SFTPClient | None = None

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def run(self, *argv: str, stdin: bytes | None = None, check: bool = True) -> Result:
        """Runs one command given as separate arguments, each quoted for the remote shell."""
        command = shlex.join(argv)
        channel = self.client.get_transport().open_session()
        channel.exec_command(command)
        if stdin is not None:
            channel.sendall(stdin)
        channel.shutdown_write()
        stdout, stderr = _drain(channel)
        result = Result(channel.recv_exit_status(), stdout.decode(), stderr.decode())
        if check and result.exit_status != 0:
            raise RemoteCommandError(self.host.name, command, result)
        return result

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
        return self._sftp

    def read_file(self, path: str) -> bytes | None:
        """The file's content, or None when there is no such file."""
        try:
            with self.sftp.open(path, "rb") as remote:
                return remote.read()
        except FileNotFoundError:
            return None

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Writes beside the target and renames, so no reader sees half a file."""
        temporary = f"{path}.ovirt-she-tmp"
        with self.sftp.open(temporary, "wb") as remote:
            remote.write(data)
        self.sftp.chmod(temporary, mode)
        self.sftp.posix_rename(temporary, path)

    def file_mode(self, path: str) -> int | None:
        try:
            return stat.S_IMODE(self.sftp.stat(path).st_mode)
        except FileNotFoundError:
            return None

    def close(self) -> None:
        self.client.close()


def _drain(channel: paramiko.Channel) -> tuple[bytes, bytes]:
    stdout, stderr = bytearray(), bytearray()
    while not (channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready()):
        if channel.recv_ready():
            stdout += channel.recv(65536)
        elif channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
        else:
            channel.status_event.wait(0.05)
    return bytes(stdout), bytes(stderr)


_pool: dict[tuple, Connection] = {}
_pool_lock = threading.Lock()


def connect(host: Host, private_key: str) -> Connection:
    """The provider process's one connection to this host, opened on first use."""
    key = (host, hashlib.sha256(private_key.encode()).hexdigest())
    with _pool_lock:
        existing = _pool.get(key)
        if existing is not None and existing.alive:
            return existing
        connection = Connection(host, private_key)
        _pool[key] = connection
        return connection
