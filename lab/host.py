"""One simulated host: its filesystem, services, multipathd state and logs.

All mutations go through a Host under its lock and are saved to
STATE/hosts/<name>.json straight away, so a lab restart continues where the
previous run stopped.
"""

import json
import os
import threading
import time
from pathlib import Path

from lab import accounts, multipath, units
from lab.commands import COMMANDS, nfs
from lab.transport.shell import Shell
from lab.transport.vfs import VirtualFS

# What the lab's units declare (ovirt-hosted-engine-ha initscripts/ovirt-ha-agent.service.in): starting one starts
# its Wants=, and a unit whose ConditionFileNotEmpty= file is missing or empty is skipped (systemctl still exits 0).
UNIT_WANTS = {"ovirt-ha-agent": ("ovirt-ha-broker",)}
UNIT_CONDITION_FILE_NOT_EMPTY = {"ovirt-ha-agent": "/etc/ovirt-hosted-engine/hosted-engine.conf"}
_BASE_DIRS = [
    ("/etc", 0o755),
    ("/root", 0o550),
    ("/home", 0o755),
    ("/tmp", 0o1777),
    ("/var", 0o755),
    ("/var/lib", 0o755),
    ("/dev", 0o755),
]


def write_json_atomic(path, data):
    """Write JSON via a temporary file and rename, so readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class CommandLog:
    """STATE/commands.jsonl: one JSON object per command line or SFTP change, any host."""

    def __init__(self, path):
        self.path = Path(path)
        self.lock = threading.Lock()

    def append(self, entry):
        with self.lock, self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")


class Host:
    def __init__(self, spec, state_dir, log):
        self.spec = spec
        self.name = spec.name
        self.fqdn = spec.fqdn
        self.log = log
        self.lab = None  # the running lab.server.Lab, set by Lab.start
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)  # a waiting command lets the host's other sessions in
        self.stopping = {}  # transient units asked to stop (lab/units.py)
        self._running, self._running_lock = {}, threading.Lock()
        self.state_path = Path(state_dir) / "hosts" / f"{spec.name}.json"
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        if self.state_path.exists():
            self._load(json.loads(self.state_path.read_text()))
        else:
            self._initialise()
            self.save()

    # --- state --------------------------------------------------------
    def _initialise(self):
        """Build the initial state from the site file."""
        spec = self.spec
        self.fs = VirtualFS()
        for path, mode in _BASE_DIRS:
            self.fs.mkdir(path, mode, parents=True)
        self.fs.write(
            accounts.GROUP,
            "".join(accounts.Group(g.name, g.gid, g.members).line() + "\n" for g in spec.groups).encode(),
        )
        self.fs.write(
            accounts.PASSWD,
            "".join(
                accounts.User(u.name, u.uid, u.gid, u.gecos, u.home, u.shell).line() + "\n" for u in spec.users
            ).encode(),
        )
        for d in spec.directories:
            self.fs.mkdir(d.path, d.mode, *self._ids(d), parents=True)
        for f in spec.files:
            self.fs.mkdir(os.path.dirname(f.path), parents=True)
            data = f.content if isinstance(f.content, bytes) else (f.content or "").encode()  # YAML !!binary
            self.fs.write(f.path, data, f.mode, *self._ids(f))
        self.services = {
            s.name: {
                "active": s.active,
                "enabled": s.enabled,
                "description": s.description,
                "since": time.time(),
                "counts": {},
                "events": [],
            }
            for s in spec.services
        }
        self.packages = list(spec.packages)
        self.commands = []
        self.multipath_config = None
        self.multipath_error = None
        self.ovirt = {}  # lab/commands/ovirt.py _state: pending updates, dnf modules, hosted-engine
        self.units = {}  # transient services (lab/units.py)
        self.powered_off = False  # `systemctl poweroff`: no SSH until the lab's state is reset
        if self.services.get("multipathd", {}).get("active"):
            self._reload_multipath()
        if self.services.get("nfs-server", {}).get("active"):
            self._nfs_event("start")

    def _ids(self, path_spec):
        user = accounts.find_user(self.fs, path_spec.owner)
        group = accounts.find_group(self.fs, path_spec.group)
        if user is None or group is None:
            raise ValueError(f"host {self.name}: {path_spec.path}: unknown owner {path_spec.owner}:{path_spec.group}")
        return user.uid, group.gid

    def _load(self, data):
        self.fs = VirtualFS.from_json(data["files"])
        self.services = data["services"]
        self.packages = data["packages"]
        self.commands = data["commands"]
        self.multipath_config = data["multipath_config"]
        self.multipath_error = data.get("multipath_error")
        self.ovirt = data.get("ovirt", {})
        self.units = data.get("units", {})
        self.powered_off = data.get("powered_off", False)
        units.load(self)

    def save(self):
        write_json_atomic(
            self.state_path,
            {
                "name": self.name,
                "fqdn": self.fqdn,
                "files": self.fs.to_json(),
                "services": self.services,
                "packages": self.packages,
                "commands": self.commands,
                "multipath_config": self.multipath_config,
                "multipath_error": self.multipath_error,
                "ovirt": self.ovirt,
                "units": self.units,
                "powered_off": self.powered_off,
            },
        )

    # --- activity -----------------------------------------------------
    def run(self, line, stdin, live_out=None, kind="exec", env=None, unit=None):
        """Run one command line (an exec request, or a unit's command); logged when it starts and when it
        ends, and saved. A slow fault (lab/faults.py) that matches the line slows it once it started.

        `live_out(bytes)`, when given, lets a command send stdout while it runs
        (Context.flush); what it returns afterwards is the rest. `env` is the process
        environment: an SSH session's has SSH_CLIENT, a systemd unit's has not."""
        if self.lab is not None and getattr(self.lab, "engines", None) is not None:
            self.lab.engines.sync_nodes()
        pid = self._started(line)
        self.log.append({"host": self.name, "time": time.time(), "kind": "start", "of": kind, "command": line})
        env = {"SSH_CLIENT": "127.0.0.1 50000 22"} if env is None else env
        try:
            faults = getattr(self.lab, "faults", None)
            if faults is not None:
                time.sleep(faults.slow_seconds(self.name, line))  # the command runs, slowly: a kill lands inside it
            with self.lock:
                out, err, status = Shell(self, COMMANDS, live_out, env=env, pid=pid, unit=unit).run(line, stdin)
                self.record(kind, line, status)
        finally:
            self._running.pop(pid, None)
        return out, err, status

    def exec_as(self, pid, line):
        """The process now shows another command line (after an exec chain), as `ps` and `pgrep -f` see it."""
        with self._running_lock:
            if pid in self._running:
                self._running[pid] = line

    def _started(self, line):
        """Registers a command line as running, under a process id, for pgrep."""
        with self._running_lock:
            pid = max(self._running, default=4000) + 1
            self._running[pid] = line
            return pid

    def running_commands(self):
        """(pid, command line) of every exec request in progress, the caller's own excluded by pgrep's pattern."""
        with self._running_lock:
            return [(pid, line) for pid, line in self._running.items() if not line.startswith("pgrep")]

    def record(self, kind, command, status):
        entry = {"host": self.name, "time": time.time(), "kind": kind, "command": command, "status": status}
        self.commands.append({k: entry[k] for k in ("time", "kind", "command", "status")})
        self.log.append(entry)
        self.save()

    def power_off(self):
        """The machine goes down once the command that asked returned: its sessions drop, and it answers no SSH
        (at its address another machine may: lab/server.py `answering`)."""
        self.powered_off = True
        self.record("power", "poweroff", 0)
        lab = self.lab
        if lab is not None:
            threading.Timer(
                0.3, lambda: [t.close() for t in list(lab.transports) if getattr(t, "lab_host", None) == self.name]
            ).start()

    def power_on(self):
        """Booted from its console: the services it had running are stopped with it, the enabled ones start."""
        from lab.ovirt_site import reboot  # the oVirt side imports this module

        if not self.powered_off:
            return
        self.powered_off = False
        self.record("power", "poweron", 0)
        reboot(self)

    def service_event(self, unit, action):
        """Apply a systemctl/multipathd action to a known unit and count it."""
        service = self.services[unit]
        service["counts"][action] = service["counts"].get(action, 0) + 1
        service["events"].append({"action": action, "time": time.time()})
        condition = UNIT_CONDITION_FILE_NOT_EMPTY.get(unit)
        if action in ("start", "restart") and condition and not (self.fs.exists(condition) and self.fs.read(condition)):
            service["active"] = False
        elif action in ("start", "restart"):
            for wanted in UNIT_WANTS.get(unit, ()):
                if wanted in self.services and not self.services[wanted]["active"]:
                    self.service_event(wanted, "start")
            if action == "restart" or not service["active"]:
                service["since"] = time.time()
            service["active"] = True
        elif action == "stop":
            service["active"] = False
        elif action in ("enable", "disable"):
            service["enabled"] = action == "enable"
        elif action in ("mask", "unmask"):
            service["masked"] = action == "mask"
        if unit == "multipathd":
            self._multipath_event(action)
        if unit == "nfs-server":
            self._nfs_event(action)

    def _nfs_event(self, action):
        """nfs-utils systemd/nfs-server.service: `exportfs -r` before it starts and on reload, `exportfs -au` after
        it stops, so a running NFS server exports what /etc/exports lists."""
        if action in ("start", "restart", "reload"):
            nfs.export_all(self.fs, replace=True)
        elif action == "stop":
            nfs.write_etab(self.fs, [])

    def _multipath_event(self, action):
        if action == "stop":
            self.multipath_config = None
        elif action in ("start", "restart", "reload", "reconfigure"):
            self._reload_multipath()

    def _reload_multipath(self):
        """Re-read the configuration; a broken file keeps the previous one, as multipathd does."""
        try:
            self.multipath_config = multipath.load(self.fs)
            self.multipath_error = None
        except multipath.ConfError as exc:
            self.multipath_error = str(exc)
            if self.multipath_config is None:
                self.multipath_config = multipath.empty_config()
