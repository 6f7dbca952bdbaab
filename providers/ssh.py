"""SSH plumbing shared by every provider that changes a host.

One connection per host per provider process, host keys checked against the site's known_hosts
(or a key pinned in the stack), and every remote command built from quoted arguments.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import shlex
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass

import paramiko

from providers.errors import StepError
from providers.retry import RetryPolicy


class HostKeyError(StepError):
    """The host's key is not the one the stack trusts."""


class RemoteCommandError(StepError):
    """A remote command failed: the step's error, naming the host, the command and its output."""

    def __init__(self, host: str, command: str, result: "Result"):
        self.result = result
        super().__init__(
            host,
            f"exited with status {result.exit_status}",
            f"It was not retried (it is not a connection failure): fix the cause on {host}, then run "
            f"`pulumi up` again.",
            command=command,
            output=(result.stderr or result.stdout).strip(),
        )


class HostUnreachable(StepError):
    """No SSH connection could be opened within the retry policy; the message says what to check."""


class ConnectionLost(StepError):
    """The connection dropped while a command ran; it is re-run only when it only reads."""

    def __init__(self, host: str, command: str, idempotent: bool, attempts: int, cause: BaseException):
        reason = cause or "closed before the exit status"
        if idempotent:
            super().__init__(
                host,
                f"(a read) did not complete in {attempts} attempts: the SSH connection dropped ({reason})",
                "Check that the host is up and reachable, then run `pulumi up` again.",
                command=command,
            )
        else:
            super().__init__(
                host,
                f"the SSH connection dropped while `{command}` ran ({reason}), so whether it took effect is unknown; "
                f"it was not run again because it changes the host",
                "Check the host (is it up, did the command finish?), then run `pulumi up` again: the providers read "
                "each host's state before they change anything.",
            )
        self.command, self.idempotent = command, idempotent


RETRY = RetryPolicy.from_env("OVIRT_SHE_SSH_")

# Commands that only read the host: re-run after a dropped connection or ssh's own failure status 255.
_READ_COMMANDS = {
    "cat",
    "tail",
    "stat",
    "sha256sum",
    "sha1sum",
    "getent",
    "id",
    "ls",
    "test",
    "hostname",
    "uname",
    "readlink",
    "ssh-keyscan",
    "engine-upgrade-check",
    "lsblk",
    "df",
    "du",
    "pgrep",
    "nproc",
    "showmount",
    "host",
    "ping",
}


def is_read(argv) -> bool:
    """Whether a command only reads the host, so running it again is harmless."""
    if not argv:
        return False
    name, rest = argv[0], list(argv[1:])
    if name in _READ_COMMANDS:
        return True
    return (
        (name == "systemctl" and rest[:1] and rest[0] in ("is-active", "is-enabled", "is-failed", "status", "show"))
        or (name == "rpm" and rest[:1] == ["-q"])
        or (name == "exportfs" and rest == ["-v"])
        or (name == "hosted-engine" and "--vm-status" in rest)
        or (name == "dnf" and (rest[:2] == ["module", "list"] or rest[:1] == ["list"]))  # refreshes only the cache
        or (name == "nodectl" and rest[:1] == ["check"])
        or (name == "ip" and "show" in rest)
        or (name == "blockdev" and rest[:1] == ["--getss"])
        or (name == "gluster" and rest[:2] == ["volume", "info"])
        or (name == "qemu-img" and rest[:1] == ["info"])
        or (name == "virsh" and rest[:1] == ["-r"])  # a read-only libvirt connection
        or (name == "iscsiadm" and _discovery_only(rest))
        or (name == "tar" and _tar_reads(rest))
    )


def _discovery_only(args) -> bool:
    """`iscsiadm -m discovery -t sendtargets -p PORTAL -o nonpersistent`: lists targets, records no node, logs in to
    nothing."""
    return (
        len(args) == 8
        and args[:5] == ["-m", "discovery", "-t", "sendtargets", "-p"]
        and args[6:] == ["-o", "nonpersistent"]
    )


def _tar_reads(args) -> bool:
    """tar listing an archive, or extracting to standard output only (-t, or -x with -O)."""
    cluster = args[0] if args and args[0].startswith("-") and not args[0].startswith("--") else ""
    return "t" in cluster or ("x" in cluster and "O" in cluster)


class _Dropped(Exception):
    """The channel closed without an exit status."""


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
        return known_hosts_name(self.address, self.port)


def known_hosts_name(address: str, port: int) -> str:
    """A host's name as OpenSSH writes it in known_hosts."""
    return address if int(port) == 22 else f"[{address}]:{int(port)}"


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _PinnedKeysOnly(paramiko.MissingHostKeyPolicy):
    """Refuses an unknown host, saying what it offered and how to trust it."""

    def __init__(self, host: Host):
        self.host = host

    def missing_host_key(self, client, hostname, key):
        raise HostKeyError(
            self.host.name,
            f"offered the {key.get_name()} host key {fingerprint(key)} at {self.host.address}:{self.host.port}, "
            f"which the stack does not trust",
            f"If that is the host's real key, add this line to the known_hosts file named by the `ssh.knownHostsFile` "
            f"setting, or pin it as `hosts.{self.host.name}.hostKey`:\n"
            f"{self.host.known_hosts_name} {key.get_name()} {key.get_base64()}",
        )


def load_private_key(text: str) -> paramiko.PKey:
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise ValueError("the `sshPrivateKey` setting is not an OpenSSH or PEM private key (ed25519, ecdsa or rsa)")


def public_key_line(private_key: str) -> str:
    """The OpenSSH public key line of a private key, for authorized_keys."""
    key = load_private_key(private_key)
    return f"{key.get_name()} {key.get_base64()}"


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


def _socket(host: Host, timeout: float) -> socket.socket:
    """A TCP connection that sends each SSH message at once: a command's request, its input and its
    end-of-input would otherwise wait on the server's delayed ACKs (Nagle), 40 ms a command."""
    sock = socket.create_connection((host.address, host.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Connection:
    """An open SSH connection to one host."""

    def __init__(self, host: Host, private_key: str, timeout: float = 30.0, retry: RetryPolicy | None = None):
        self.host = host
        self._pkey = load_private_key(private_key)
        self._timeout = timeout
        self.retry = retry or RETRY
        self._reopen_lock = threading.Lock()
        self.client = self._open()
        self._sftp: paramiko.SFTPClient | None = None
        # Resources on the same host run in parallel; one SFTP session serves one request at a time.
        self._sftp_lock = threading.RLock()

    def _open(self) -> paramiko.SSHClient:
        """Connects, retrying refused, reset and timed-out connections; a host key is never retried."""
        host, started, attempts, last = self.host, time.monotonic(), 0, None
        deadline = started + self.retry.total_seconds
        pauses = self.retry.pauses(deadline)
        while True:
            attempts += 1
            client = paramiko.SSHClient()
            _trusted_keys(client, host.known_hosts)
            client.set_missing_host_key_policy(_PinnedKeysOnly(host))
            try:
                timeout = max(1.0, min(self._timeout, deadline - time.monotonic()))  # the whole stays bounded
                client.connect(
                    host.address,
                    port=host.port,
                    username=host.user,
                    pkey=self._pkey,
                    allow_agent=False,
                    look_for_keys=False,
                    sock=_socket(host, timeout),
                    banner_timeout=timeout,
                    auth_timeout=timeout,
                )
                return client
            except paramiko.BadHostKeyException as err:
                client.close()
                raise HostKeyError(
                    host.name,
                    f"now offers the host key {fingerprint(err.key)} at {host.address}:{host.port}, not the trusted "
                    f"{fingerprint(err.expected_key)}",
                    "The host was reinstalled or something is in the way: check it before you replace its line in "
                    "the known_hosts file.",
                ) from err
            except paramiko.AuthenticationException:
                client.close()
                raise
            except (OSError, EOFError, paramiko.SSHException) as err:  # refused, reset, timed out, no banner
                client.close()
                last = err
            pause = next(pauses, None)
            if pause is None:
                raise HostUnreachable(
                    host.name,
                    f"no SSH connection to {host.address}:{host.port} after {attempts} attempts in "
                    f"{time.monotonic() - started:.0f}s ({type(last).__name__}: {last})",
                    f"Check that the host is up and its sshd listens on port {host.port}, and that nothing in between "
                    f"blocks it; then run `pulumi up` again.",
                ) from last
            time.sleep(pause)

    def _reopen(self, dead: paramiko.SSHClient) -> None:
        """Replaces a dropped connection (once, however many threads noticed)."""
        with self._reopen_lock:
            if self.client is dead:
                dead.close()
                self._sftp = None
                self.client = self._open()

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def run(
        self, *argv: str, stdin: bytes | None = None, check: bool = True, on_line=None, idempotent: bool | None = None
    ) -> Result:
        """Runs one command given as separate arguments, each quoted for the remote shell.

        `on_line` is called with each line of output as it arrives, for commands that run long.
        A dropped connection is re-opened; the command itself is run again (with backoff) only when
        it is `idempotent` (by default: when `is_read(argv)`), also when it exits 255 (ssh's own
        failure status). Otherwise ConnectionLost says that its effect is unknown.
        """
        command = shlex.join(argv)
        if idempotent is None:
            idempotent = is_read(argv)
        pauses = self.retry.pauses() if idempotent else iter(())
        attempts = 0
        while True:
            attempts += 1
            client = self.client
            if not self.alive:
                self._reopen(client)
                client = self.client
            try:
                result = self._run_once(client, command, stdin, on_line)
            except (_Dropped, paramiko.SSHException, EOFError, OSError) as err:
                pause = next(pauses, None)
                if pause is None:
                    raise ConnectionLost(
                        self.host.name, command, idempotent, attempts, None if isinstance(err, _Dropped) else err
                    ) from err
                if client is self.client and not self.alive:
                    self._reopen(client)
                time.sleep(pause)
                continue
            if idempotent and result.exit_status == 255:
                pause = next(pauses, None)
                if pause is not None:
                    time.sleep(pause)
                    continue
            break
        if check and result.exit_status != 0:
            raise RemoteCommandError(self.host.name, command, result)
        return result

    def _run_once(self, client: paramiko.SSHClient, command: str, stdin: bytes | None, on_line) -> Result:
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise _Dropped()
        channel = transport.open_session(timeout=self._timeout)
        channel.exec_command(command)
        if stdin is not None:
            channel.sendall(stdin)
        channel.shutdown_write()
        stdout, stderr = _drain(channel, _LineSplitter(on_line) if on_line else None)
        status = channel.recv_exit_status()
        if status == -1:  # closed without an exit status: the connection dropped
            channel.close()
            raise _Dropped()
        return Result(status, stdout.decode(), stderr.decode())

    def _read(self, operation):
        """An SFTP read, done again on a fresh connection when the connection dropped under it."""
        pauses = self.retry.pauses()
        while True:
            client = self.client
            if not self.alive:
                self._reopen(client)
            try:
                return operation()
            except (paramiko.SSHException, EOFError, OSError) as err:
                if self.alive and not isinstance(err, (EOFError, paramiko.SSHException)):
                    raise  # the host answered: no such file, permission denied...
                pause = next(pauses, None)
                if pause is None:
                    raise ConnectionLost(self.host.name, f"sftp read ({err})", True, 0, err) from err
                with self._sftp_lock:
                    if client is self.client:
                        self._sftp = None
                time.sleep(pause)

    @contextlib.contextmanager
    def sftp(self):
        """The connection's SFTP session, held for one operation at a time."""
        with self._sftp_lock:
            if self._sftp is None:
                self._sftp = self.client.open_sftp()
            yield self._sftp

    def read_file(self, path: str) -> bytes | None:
        """The file's content, or None when there is no such file."""

        def read():
            try:
                with self.sftp() as sftp, sftp.open(path, "rb") as remote:
                    return remote.read()
            except FileNotFoundError:
                return None

        return self._read(read)

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Writes beside the target and renames, so no reader sees half a file."""
        temporary = f"{path}.ovirt-she-tmp"
        with self.sftp() as sftp:
            with sftp.open(temporary, "wb") as remote:
                remote.chmod(mode)  # before any byte is written: the file may hold passwords
                remote.write(data)
            sftp.posix_rename(temporary, path)

    def list_dir(self, path: str) -> list[str] | None:
        """The names in a directory, or None when there is no such directory."""

        def read():
            try:
                with self.sftp() as sftp:
                    return sftp.listdir(path)
            except FileNotFoundError:
                return None

        return self._read(read)

    def file_mode(self, path: str) -> int | None:
        def read():
            try:
                with self.sftp() as sftp:
                    return stat.S_IMODE(sftp.stat(path).st_mode)
            except FileNotFoundError:
                return None

        return self._read(read)

    def close(self) -> None:
        self.client.close()


class _LineSplitter:
    """Hands complete lines of a stream to a callback as they arrive."""

    def __init__(self, on_line):
        self.on_line, self.pending = on_line, b""

    def feed(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            self.on_line(line.decode(errors="replace"))

    def close(self) -> None:
        if self.pending:
            self.on_line(self.pending.decode(errors="replace"))


def _drain(channel: paramiko.Channel, lines: _LineSplitter | None = None) -> tuple[bytes, bytes]:
    stdout, stderr = bytearray(), bytearray()
    while not (channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready()):
        if channel.recv_ready():
            data = channel.recv(65536)
            stdout += data
            if lines:
                lines.feed(data)
        elif channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
        else:
            channel.status_event.wait(0.05)
    if lines:
        lines.close()
    return bytes(stdout), bytes(stderr)


@dataclass(frozen=True)
class Copied:
    sha256: str
    size: int
    examined: object = None  # what `examine` read from the copy


def copy_file(
    source: Connection,
    source_path: str,
    target: Connection,
    target_path: str,
    mode: int = 0o600,
    examine=None,
    also: tuple[tuple[Connection, str], ...] = (),
) -> Copied:
    """Streams a file from one host to another through this process, never half-written at the target;
    `also` names more (connection, path) targets, written from the same read as it goes (one read however many
    copies). `examine(file)`, when given, reads the copy (of any size: it is spooled to disk past 64 MiB)."""
    digest, size, targets = hashlib.sha256(), 0, [(target, target_path), *also]
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool, contextlib.ExitStack() as opened:
        sessions = {}  # one SFTP session per connection, even when two targets share it
        for connection, _ in targets:
            if id(connection) not in sessions:
                sessions[id(connection)] = opened.enter_context(connection.sftp())
        writers = []
        for connection, path in targets:
            remote = opened.enter_context(sessions[id(connection)].open(path + ".part", "wb"))
            remote.chmod(mode)
            writers.append(remote)
        with source.sftp() as sftp, sftp.open(source_path, "rb") as remote:
            while chunk := remote.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
                if examine:
                    spool.write(chunk)
                for writer in writers:
                    writer.write(chunk)
        for writer, (connection, path) in zip(writers, targets):
            writer.close()
            sessions[id(connection)].posix_rename(path + ".part", path)
        spool.seek(0)
        return Copied(digest.hexdigest(), size, examine(spool) if examine else None)


def sha256_of(connection: Connection, path: str) -> str | None:
    """The file's sha256 as the host computes it, or None when it cannot be read."""
    result = connection.run("sha256sum", "--", path, check=False, idempotent=True)
    return result.stdout.split()[0] if result.exit_status == 0 else None


_pool: dict[tuple, Connection] = {}
_opening: dict[tuple, threading.Lock] = {}
_pool_lock = threading.Lock()


def connect(host: Host, private_key: str) -> Connection:
    """The provider process's one connection to this host, opened on first use. Only callers for
    the same host wait for one another: other hosts' handshakes go on meanwhile."""
    key = (host, hashlib.sha256(private_key.encode()).hexdigest())
    with _pool_lock:
        opening = _opening.setdefault(key, threading.Lock())
    with opening:
        existing = _pool.get(key)
        if existing is not None and existing.alive:
            return existing
        if existing is not None:  # dropped: forget it and open a new one
            existing.close()
            del _pool[key]
        connection = _pool[key] = Connection(host, private_key)
        return connection
