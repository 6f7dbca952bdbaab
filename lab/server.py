"""`lab serve`: one process that runs every host's SSH server on loopback."""
import logging
import os
import signal
import socket
import threading
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab import site as site_mod
from lab.host import CommandLog, Host, write_json_atomic
from lab.sshd import serve_connection

log = logging.getLogger("lab.server")
LOOPBACK = "127.0.0.1"


def host_key(state_dir, name):
    """The host's persistent ed25519 key, created on first use."""
    path = Path(state_dir) / "hostkeys" / f"{name}_ed25519"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return paramiko.Ed25519Key(filename=str(path))


def read_authorized_keys(lines):
    """Base64 key blobs from OpenSSH public key lines ('type base64 [comment]')."""
    keys = set()
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and not line.lstrip().startswith("#"):
            keys.add(fields[1])
    return keys


class Lab:
    """All hosts of a site, listening on loopback until stop() is called."""

    def __init__(self, state_dir, site_path, random_ports=False, authorized_key_files=()):
        self.state_dir = Path(state_dir).resolve()
        self.site = site_mod.load(site_path)
        self.random_ports = random_ports
        lines = list(self.site.authorized_keys)
        for path in authorized_key_files:
            lines += Path(path).read_text().splitlines()
        self.authorized_keys = read_authorized_keys(lines)
        self.stopping = threading.Event()
        self.threads, self.transports, self.listeners = [], [], {}
        self.hosts, self.keys = {}, {}

    def start(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command_log = CommandLog(self.state_dir / "commands.jsonl")
        for spec in self.site.hosts:
            self.hosts[spec.name] = Host(spec, self.state_dir, command_log)
            self.keys[spec.name] = host_key(self.state_dir, spec.name)
            port = 0 if self.random_ports else spec.ssh_port
            try:
                self.listeners[spec.name] = self._listen(port)
            except OSError as exc:
                raise RuntimeError(f"{spec.name}: cannot listen on {LOOPBACK}:{port}: {exc.strerror}") from None
        for name, sock in self.listeners.items():
            thread = threading.Thread(target=self._accept, args=(name, sock),
                                      name=f"accept-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)
        self._publish()

    def _listen(self, port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(16)
        sock.settimeout(0.2)
        return sock

    def _accept(self, name, sock):
        while not self.stopping.is_set():
            try:
                conn, _ = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=serve_connection, daemon=True, name=f"ssh-{name}",
                             args=(conn, self.hosts[name], self.keys[name],
                                   self.authorized_keys, self.transports)).start()

    def port(self, name):
        return self.listeners[name].getsockname()[1]

    def _publish(self):
        """Write known_hosts and then lab.json (the 'ready' signal), both atomically."""
        hosts = {}
        known = []
        for spec in self.site.hosts:
            key = f"{self.keys[spec.name].get_name()} {self.keys[spec.name].get_base64()}"
            hosts[spec.name] = {"address": LOOPBACK, "port": self.port(spec.name),
                                "fqdn": spec.fqdn, "role": spec.role, "host_key": key}
            known.append(f"[{LOOPBACK}]:{self.port(spec.name)} {key}\n")
        tmp = self.state_dir / ".known_hosts.tmp"
        tmp.write_text("".join(known))
        os.replace(tmp, self.state_dir / "known_hosts")
        write_json_atomic(self.state_dir / "lab.json",
                          {"pid": os.getpid(), "site": self.site.path, "hosts": hosts})

    def stop(self):
        self.stopping.set()
        for sock in self.listeners.values():
            sock.close()
        for thread in self.threads:
            thread.join(timeout=2)
        for transport in list(self.transports):
            transport.close()
        for host in self.hosts.values():
            with host.lock:
                host.save()
        (self.state_dir / "lab.json").unlink(missing_ok=True)


def serve(state_dir, site_path, random_ports, authorized_key_files):
    """Run in the foreground until SIGTERM/SIGINT; returns the exit status."""
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    lab = Lab(state_dir, site_path, random_ports, authorized_key_files)
    try:
        lab.start()
        log.info("lab ready: %s", ", ".join(f"{n}={lab.port(n)}" for n in lab.hosts))
        while not done.wait(0.5):
            pass
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    finally:
        lab.stop()
    return 0
