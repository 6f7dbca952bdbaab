"""`lab serve`: one process that runs every host's SSH server on loopback."""

import copy
import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab import site as site_mod
from lab.faults import Faults
from lab.host import CommandLog, Host, write_json_atomic
from lab.ovirt_site import EngineServices, pinned_in_site, settings
from lab.transport.sshd import serve_connection

log = logging.getLogger("lab.server")
LOOPBACK = "127.0.0.1"
ENGINE_VM = "engine-vm"  # the SSH host started by a successful hosted-engine --deploy
ENGINE_VM_FILE = "engine-vm.json"


def host_key(state_dir, name):
    """The host's persistent ed25519 key, created on first use."""
    path = Path(state_dir) / "hostkeys" / f"{name}_ed25519"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
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
        self.host_authorized_keys = {}  # name -> key blobs, for hosts with their own list (engine-vm)
        self.command_log = self.connection_log = None
        self.engines = None
        self.faults = None  # lab/faults.py, set by start()
        self.publish_lock = threading.Lock()

    def start(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.command_log = CommandLog(self.state_dir / "commands.jsonl")
        self.connection_log = CommandLog(self.state_dir / "connections.jsonl")
        for spec in self.site.hosts:
            self._add_host(spec)
        if (self.state_dir / ENGINE_VM_FILE).exists():
            self._add_engine_vm_host(json.loads((self.state_dir / ENGINE_VM_FILE).read_text()))
        self.engines = EngineServices(self)
        self.engines.start()
        self.faults = Faults(self)
        self.faults.start()
        for name in list(self.listeners):
            self._start_accepting(name)
        self._publish()

    def _add_host(self, spec, authorized_keys=None):
        self.hosts[spec.name] = Host(spec, self.state_dir, self.command_log)
        self.hosts[spec.name].lab = self
        self.keys[spec.name] = host_key(self.state_dir, spec.name)
        if authorized_keys is not None:
            self.host_authorized_keys[spec.name] = authorized_keys
        port = 0 if self.random_ports and not spec.extra.get("pinned_port") else spec.ssh_port
        try:
            self.listeners[spec.name] = self._listen(port)
        except OSError as exc:
            raise RuntimeError(f"{spec.name}: cannot listen on {LOOPBACK}:{port}: {exc.strerror}") from None

    def engine_vm_spec(self, fqdn, nic=None):
        """The new Engine VM: the original Engine's accounts, files and services under the deploy's FQDN, at the
        address the deploy gave it (NIC: {name, cidr, mac}; the original's when a saved lab state has none)."""
        base = next((h for h in self.site.hosts if h.role == "original-engine"), None) or next(
            h for h in self.site.hosts if h.role == "deployment-host"
        )
        spec = copy.deepcopy(base)
        spec.name, spec.role, spec.fqdn = ENGINE_VM, "new-engine-vm", fqdn
        if nic:
            spec.address = nic["cidr"].split("/")[0]
            spec.extra = {**spec.extra, "nics": [nic]}
        spec.ssh_port = int(settings(self.site)["engine_vm_ssh_port"])
        spec.extra = {**spec.extra, "pinned_port": pinned_in_site(self.site, "engine_vm_ssh_port")}
        spec.extra = {**spec.extra, "update_pending": {"setup": False, "engine": False, "os": False}}
        return spec

    def _add_engine_vm_host(self, info):
        keys = self.authorized_keys | read_authorized_keys(info.get("authorized_keys", []))
        self._add_host(self.engine_vm_spec(info["fqdn"], info.get("nic")), keys)

    def add_engine_vm(self, fqdn, nic, authorized_key_lines=()):
        """Start the `engine-vm` SSH host after hosted-engine --deploy (a new host key), remembered in
        STATE/engine-vm.json so a restart brings it back; the caller publishes lab.json."""
        if ENGINE_VM in self.hosts:
            return self.hosts[ENGINE_VM]
        info = {"fqdn": fqdn, "nic": nic, "authorized_keys": list(authorized_key_lines)}
        write_json_atomic(self.state_dir / ENGINE_VM_FILE, info)
        self._add_engine_vm_host(info)
        self._start_accepting(ENGINE_VM)
        return self.hosts[ENGINE_VM]

    def _start_accepting(self, name):
        thread = threading.Thread(
            target=self._accept, args=(name, self.listeners[name]), name=f"accept-{name}", daemon=True
        )
        thread.start()
        self.threads.append(thread)

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
            if self.faults is not None and self.faults.refuse(name, conn):
                continue
            host = self.answering(name)
            if host is None:  # powered off: a real one would not answer at all; the lab resets at once
                conn.close()
                continue
            self.connection_log.append({"host": host.name, "time": time.time()})
            conn.settimeout(None)
            # A real sshd writes a command's output, exit status and close in one go; without this,
            # paramiko's separate small writes wait on the client's delayed ACKs (40 ms each).
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(
                target=serve_connection,
                daemon=True,
                name=f"ssh-{name}",
                args=(
                    conn,
                    host,
                    self.keys[host.name],
                    self.host_authorized_keys.get(host.name, self.authorized_keys),
                    self.transports,
                ),
            ).start()

    def answering(self, name):
        """The machine that answers SSH on host NAME's port: NAME while it is on, else the one that answers at its
        address (lab/commands/names.py `answering`), as the Engine VM does at the original Engine machine's."""
        from lab.commands.names import answering  # the commands import this module's neighbours

        host = self.hosts[name]
        return host if not host.powered_off else answering(self, host.spec.address)

    def port(self, name):
        try:
            return self.listeners[name].getsockname()[1]
        except OSError:  # closed for a while by a `refuse` fault
            return self.fixed_ports[name]

    def _publish(self):
        """Write known_hosts and then lab.json (the 'ready' signal), both atomically."""
        hosts = {}
        known = []
        for name, host in list(self.hosts.items()):
            spec = host.spec
            key = f"{self.keys[spec.name].get_name()} {self.keys[spec.name].get_base64()}"
            hosts[spec.name] = {
                "address": LOOPBACK,
                "port": self.port(spec.name),
                "fqdn": spec.fqdn,
                "role": spec.role,
                "host_key": key,
            }
            if name != ENGINE_VM:  # the administrator has to accept the new Engine VM's key
                known.append(f"[{LOOPBACK}]:{self.port(spec.name)} {key}\n")
        tmp = self.state_dir / ".known_hosts.tmp"
        tmp.write_text("".join(known))
        os.replace(tmp, self.state_dir / "known_hosts")
        with self.publish_lock:
            write_json_atomic(
                self.state_dir / "lab.json",
                {
                    "pid": os.getpid(),
                    "site": self.site.path,
                    "hosts": hosts,
                    **(self.engines.info() if self.engines else {}),
                },
            )

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
        if self.engines:
            self.engines.stop()
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
