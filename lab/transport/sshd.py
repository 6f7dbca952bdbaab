"""paramiko server side: public-key auth for root, exec requests and SFTP.

Every connection gets its own paramiko Transport (which runs in its own
thread); exec requests run on a worker thread so the transport keeps serving
the channel while a command waits for stdin.
"""

import errno
import logging
import os
import struct
import threading
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_FAILURE, cMSG_CHANNEL_SUCCESS
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_OP_UNSUPPORTED

from lab.transport.shell import Input
from lab.transport.vfs import FsError, normpath

log = logging.getLogger("lab.transport.sshd")


class HostServer(paramiko.ServerInterface):
    """Policy for one connection to one host."""

    def __init__(self, host, authorized_keys):
        self.host = host
        self.authorized_keys = authorized_keys  # set of base64 public key blobs

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        if username == "root" and key.get_base64() in self.authorized_keys:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args):
        return False

    def check_channel_shell_request(self, channel):
        return False

    def check_channel_exec_request(self, channel, command):
        if self.host.powered_off:  # going down: its sessions are about to drop, it starts nothing new
            return False
        line = command.decode("utf-8", errors="replace")
        answered = channel.get_transport().expect_reply(channel.remote_chanid)
        threading.Thread(
            target=_exec, args=(self.host, channel, line, answered), name=f"exec-{self.host.name}", daemon=True
        ).start()
        return True


class LabTransport(paramiko.Transport):
    """A Transport that tells exec workers when their request has been answered.

    paramiko sends the reply to an exec request only after
    check_channel_exec_request returns; without waiting for it, a fast
    command could close the channel first and the client would report
    "Channel closed" instead of the command's result.
    """

    def __init__(self, sock):
        super().__init__(sock)
        self._replies = {}

    def expect_reply(self, remote_chanid):
        event = self._replies[remote_chanid] = threading.Event()
        return event

    def _send_user_message(self, data):
        super()._send_user_message(data)
        raw = data.asbytes() if isinstance(data, paramiko.Message) else bytes(data)
        if len(raw) == 5 and raw[:1] in (cMSG_CHANNEL_SUCCESS, cMSG_CHANNEL_FAILURE):
            event = self._replies.pop(struct.unpack(">I", raw[1:])[0], None)
            if event is not None:
                event.set()


def _exec(host, channel, line, answered):
    """Run the command line, then send output, exit status and close."""

    def read_stdin():
        chunks = []
        while True:
            data = channel.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def live_out(data):
        answered.wait(5)
        channel.sendall(data)

    try:
        faults = getattr(getattr(host, "lab", None), "faults", None)  # lab/faults.py
        if faults is None:
            out, err, status = host.run(line, Input(read_stdin), live_out)
        else:
            result = faults.run_exec(host, channel, line, lambda: host.run(line, Input(read_stdin), live_out), answered)
            if result is None:  # an injected drop closed the connection
                return
            out, err, status = result
        answered.wait(5)
        channel.sendall(out)
        channel.sendall_stderr(err)
        channel.send_exit_status(status)
    except Exception:  # the client may have gone away; nothing to report to
        log.exception("exec on %s failed: %r", host.name, line)
    finally:
        channel.close()


def _attributes(node, name=None):
    attr = paramiko.SFTPAttributes()
    attr.st_size = node.size
    attr.st_uid, attr.st_gid = node.uid, node.gid
    attr.st_mode = node.st_mode
    attr.st_atime = attr.st_mtime = int(node.mtime)
    if name is not None:
        attr.filename = name
    return attr


def _sftp_errors(func):
    """Turn FsError into the matching SFTP status code."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FsError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    return wrapper


class HostSFTP(paramiko.SFTPServerInterface):
    """SFTP view of a host's virtual filesystem; relative paths start at /root."""

    def __init__(self, server, *args, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.host = server.host

    def _path(self, path):
        return normpath(path, "/root")

    def changed(self, operation, path):
        """Log and persist a modification (the host saves on record)."""
        self.host.record("sftp", f"{operation} {path}", 0)

    def canonicalize(self, path):
        return self._path(path)

    @_sftp_errors
    def list_folder(self, path):
        with self.host.lock:
            base = self._path(path)
            return [_attributes(self.host.fs.get(os.path.join(base, n)), n) for n in self.host.fs.listdir(base)]

    @_sftp_errors
    def stat(self, path):
        with self.host.lock:
            return _attributes(self.host.fs.get(self._path(path)))

    lstat = stat

    @_sftp_errors
    def open(self, path, flags, attr):
        path = self._path(path)
        fs = self.host.fs
        with self.host.lock:
            exists = fs.exists(path)
            if exists and flags & os.O_CREAT and flags & os.O_EXCL:
                raise FsError(errno.EEXIST, path)
            if not exists and not flags & os.O_CREAT:
                return SFTP_NO_SUCH_FILE
            if not exists:
                mode = attr.st_mode & 0o7777 if attr.st_mode is not None else 0o644
                fs.write(path, b"", mode)
            elif fs.get(path).is_dir:
                raise FsError(errno.EISDIR, path)
            elif flags & os.O_TRUNC:
                fs.write(path, b"")
            handle = HostFile(self, path, flags)
            handle.dirty = not exists or bool(flags & os.O_TRUNC)
            return handle

    @_sftp_errors
    def remove(self, path):
        with self.host.lock:
            path = self._path(path)
            if self.host.fs.get(path).is_dir:
                raise FsError(errno.EISDIR, path)
            self.host.fs.remove(path)
            self.changed("remove", path)
        return SFTP_OK

    @_sftp_errors
    def rename(self, oldpath, newpath):
        """SFTPv3 rename refuses to replace an existing target (as OpenSSH does)."""
        with self.host.lock:
            if self.host.fs.exists(self._path(newpath)):
                return SFTP_FAILURE
            return self.posix_rename(oldpath, newpath)

    @_sftp_errors
    def posix_rename(self, oldpath, newpath):
        with self.host.lock:
            old, new = self._path(oldpath), self._path(newpath)
            self.host.fs.rename(old, new)
            self.changed("rename", f"{old} {new}")
        return SFTP_OK

    @_sftp_errors
    def mkdir(self, path, attr):
        with self.host.lock:
            path = self._path(path)
            mode = attr.st_mode & 0o7777 if attr.st_mode is not None else 0o755
            self.host.fs.mkdir(path, mode)
            self.changed("mkdir", path)
        return SFTP_OK

    @_sftp_errors
    def rmdir(self, path):
        with self.host.lock:
            path = self._path(path)
            if not self.host.fs.get(path).is_dir:
                raise FsError(errno.ENOTDIR, path)
            self.host.fs.remove(path)
            self.changed("rmdir", path)
        return SFTP_OK

    @_sftp_errors
    def chattr(self, path, attr):
        with self.host.lock:
            path = self._path(path)
            node = self.host.fs.get(path)
            if attr.st_mode is not None:
                node.mode = attr.st_mode & 0o7777
            if attr.st_uid is not None:
                node.uid, node.gid = attr.st_uid, attr.st_gid
            if attr.st_mtime is not None:
                node.mtime = attr.st_mtime
            if attr.st_size is not None and not node.is_dir:
                node.data = node.data[: attr.st_size].ljust(attr.st_size, b"\0")
            self.changed("setstat", path)
        return SFTP_OK

    def symlink(self, target_path, path):
        return SFTP_OP_UNSUPPORTED

    def readlink(self, path):
        return SFTP_OP_UNSUPPORTED


class HostFile(paramiko.SFTPHandle):
    """An open file; reads and writes go straight to the node's bytes."""

    def __init__(self, sftp, path, flags):
        super().__init__(flags)
        self.sftp = sftp
        self.path = path
        self.append = bool(flags & os.O_APPEND)
        self.dirty = False

    @_sftp_errors
    def read(self, offset, length):
        with self.sftp.host.lock:
            return self.sftp.host.fs.read(self.path)[offset : offset + length]

    @_sftp_errors
    def write(self, offset, data):
        with self.sftp.host.lock:
            node = self.sftp.host.fs.get(self.path)
            if self.append:
                offset = len(node.data)
            head = node.data[:offset].ljust(offset, b"\0")
            node.data = head + data + node.data[offset + len(data) :]
            node.mtime = time.time()
            self.dirty = True
        return SFTP_OK

    def stat(self):
        return self.sftp.stat(self.path)

    def chattr(self, attr):
        return self.sftp.chattr(self.path, attr)

    def close(self):
        if self.dirty:
            host = self.sftp.host
            faults = getattr(host.lab, "faults", None)
            if faults is not None:  # a slow write: the data is in, the client still waits for the close
                time.sleep(faults.slow_seconds(host.name, f"write {self.path}"))
            with self.sftp.host.lock:
                self.sftp.changed("write", self.path)
            self.dirty = False
        super().close()


def serve_connection(sock, host, host_key, authorized_keys, transports):
    """Run the SSH protocol on an accepted socket (called on its own thread)."""
    transport = LabTransport(sock)
    transport.lab_host = host.name  # so a powered-off host's sessions can be dropped
    transports.append(transport)
    transport.add_server_key(host_key)
    transport.set_subsystem_handler("sftp", paramiko.SFTPServer, HostSFTP)
    try:
        transport.start_server(server=HostServer(host, authorized_keys))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        log.info("%s: SSH negotiation ended: %s", host.name, exc)
