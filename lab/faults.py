"""Fault injection for the lab, and the site's long-step durations (critical path).

Faults come from the site file's top-level `faults:` list (active from the start) or are added
while the lab runs: `python -m lab fault --state DIR KIND ...` (or LabProcess.inject_fault)
appends a rule to STATE/faults.json, which the running lab watches; the lab acknowledges each
rule it has taken in STATE/faults-applied.json. Every time a fault takes effect it is recorded
in STATE/commands.jsonl with kind "fault".

Rules (the same keys in the site file, the runtime file and the CLI's options):

    - {kind: command, host: storage, match: 'exportfs -r', status: 255, stderr: '...', stdout: '', times: 1}
          the command line (re.search of `match`) is not run; it answers status/stdout/stderr.
    - {kind: refuse, host: storage, times: 2}        the next 2 connections are reset at once
    - {kind: refuse, host: storage, seconds: 3}      the listener is closed for 3 s (ECONNREFUSED)
    - {kind: drop, host: storage, match: 'stat', after_bytes: 0, times: 1}
    - {kind: drop, host: storage, after_seconds: 2}  the command runs, then the connection closes
          after sending `after_bytes` bytes of its stdout, or `after_seconds` after it started,
          with no exit status (the client sees the transport close)
    - {kind: slow, host: storage, seconds: 1.5, match: '', times: always}   each matching command, once
          started (recorded with kind "start"), takes this much longer: exec requests and units' commands
    - {kind: engine-api, api: original|new, status: 503, times: 1}  (or hang: SECONDS) via
          EngineApi.fail_next / hang_next; for `new`, applied once the new API runs
    - {kind: host-key, host: storage}  the host serves a new ed25519 key from now on (in memory:
          a lab restart or `fault clear` brings the original key back)
    - {kind: deploy-task, host: deploy, task: 'Add host', msg: '...', times: 1}  the hosted_engine_setup role's
          task of that name fails with this message (ansible's fatal line), leaving what the tasks before it left
    - {kind: power-on, host: engine}  not a fault: the administrator powers a machine that is off on from its
          console or power management; it boots (its enabled services start) and answers again

`host` is a lab host name or `*`; `times` is a count or `always` (default 1, `always` for slow).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import struct
import threading
import time
import uuid
from pathlib import Path

RUNTIME_FILE = "faults.json"
APPLIED_FILE = "faults-applied.json"
KINDS = ("command", "refuse", "drop", "slow", "engine-api", "host-key", "deploy-task", "power-on")
_FIELDS = {
    "command": {"host", "match", "status", "stderr", "stdout", "times"},
    "refuse": {"host", "times", "seconds"},
    "drop": {"host", "match", "after_bytes", "after_seconds", "times"},
    "slow": {"host", "match", "seconds", "times"},
    "engine-api": {"api", "status", "hang", "times"},
    "host-key": {"host"},
    "deploy-task": {"host", "task", "msg", "times"},
    "power-on": {"host"},
}


def normalize(rule: dict) -> dict:
    """A checked copy of a rule with its defaults; ValueError says what is wrong."""
    rule = {k.replace("-", "_"): v for k, v in dict(rule).items() if v is not None}
    kind = rule.get("kind")
    if kind not in KINDS:
        raise ValueError(f"fault kind {kind!r}: expected one of {', '.join(KINDS)}")
    unknown = set(rule) - _FIELDS[kind] - {"kind", "id", "times"}
    if unknown:
        raise ValueError(f"fault {kind}: unknown keys {sorted(unknown)}")
    if kind != "engine-api" and not rule.get("host"):
        raise ValueError(f"fault {kind}: `host` is required")
    times = rule.get("times", "always" if kind == "slow" else 1)
    if times != "always":
        times = int(times)
        if times < 1:
            raise ValueError(f"fault {kind}: `times` must be at least 1 or `always`")
    rule["times"] = times
    if kind == "command":
        rule.setdefault("status", 1)
        rule["status"] = int(rule["status"])
        rule.setdefault("stderr", "")
        rule.setdefault("stdout", "")
    if kind in ("command", "drop", "slow"):
        rule.setdefault("match", "")
        re.compile(rule["match"])
    if kind == "refuse" and "seconds" in rule:
        rule["seconds"] = float(rule["seconds"])
    if kind == "drop":
        if ("after_bytes" in rule) == ("after_seconds" in rule):
            raise ValueError("fault drop: give exactly one of `after_bytes` and `after_seconds`")
    if kind == "slow":
        if "seconds" not in rule:
            raise ValueError("fault slow: `seconds` is required")
        rule["seconds"] = float(rule["seconds"])
    if kind == "deploy-task":
        if not rule.get("task"):
            raise ValueError("fault deploy-task: `task` (the role's task name, as the deploy prints it) is required")
        rule.setdefault("msg", "lab fault: the task failed")
    if kind == "engine-api":
        rule.setdefault("api", "original")
        if rule["api"] not in ("original", "new"):
            raise ValueError("fault engine-api: `api` is `original` or `new`")
        if ("status" in rule) == ("hang" in rule):
            raise ValueError("fault engine-api: give exactly one of `status` and `hang`")
        if times == "always":
            raise ValueError("fault engine-api: `times` must be a count")
    return rule


# --- the runtime file (written by the CLI / LabProcess, read by the lab) ----------------------
def _locked(state_dir):
    lock = open(Path(state_dir) / ".faults.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def _read(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _write(path, data):
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def add_rule(state_dir, rule: dict) -> str:
    """Append a rule to STATE/faults.json; returns its id."""
    rule = normalize(rule)
    rule["id"] = uuid.uuid4().hex
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    with _locked(state_dir):
        path = Path(state_dir) / RUNTIME_FILE
        data = _read(path) or {"rules": [], "clear": None}
        data["rules"].append(rule)
        _write(path, data)
    return rule["id"]


def clear_rules(state_dir) -> str:
    """Drop every rule (site ones too) and restore changed host keys; returns the clear token."""
    token = uuid.uuid4().hex
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    with _locked(state_dir):
        _write(Path(state_dir) / RUNTIME_FILE, {"rules": [], "clear": token})
    return token


def wait_applied(state_dir, rule_id=None, clear=None, timeout=10.0) -> bool:
    """Wait until the running lab has taken a rule (or a clear); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = _read(Path(state_dir) / APPLIED_FILE) or {}
        if (rule_id is None or rule_id in data.get("ids", [])) and (clear is None or data.get("clear") == clear):
            return True
        time.sleep(0.05)
    return False


# --- inside the lab ---------------------------------------------------------------------------
class _Rule:
    def __init__(self, rule):
        self.rule = rule
        self.remaining = None if rule["times"] == "always" else rule["times"]
        self.until = None
        self.pending = False  # engine-api rule waiting for its API

    def __getitem__(self, key):
        return self.rule[key]

    def get(self, key, default=None):
        return self.rule.get(key, default)

    def matches(self, host, line=None):
        if self.remaining == 0:
            return False
        if self.get("host") not in ("*", host):
            return False
        return line is None or re.search(self["match"], line) is not None

    def take(self):
        if self.remaining is not None:
            self.remaining -= 1


class Faults:
    """The lab's active fault rules; `lab` is the running lab.server.Lab."""

    def __init__(self, lab):
        self.lab = lab
        self.lock = threading.RLock()
        self.rules: list[_Rule] = []
        self.seen: set[str] = set()
        self.clear_token = None
        self.original_keys = {}
        self.reopening = {}
        self._stamp = None
        self._wrapped = set()

    # lifecycle
    def start(self):
        # Rules a previous run of this lab already took stay consumed; rules added while it was stopped apply now.
        previous = _read(self.lab.state_dir / APPLIED_FILE) or {}
        self.seen.update(previous.get("ids", []))
        self.clear_token = previous.get("clear")
        for index, rule in enumerate(self.lab.site.extra.get("faults") or []):
            self.seen.discard(f"site-{index}")  # the site's own rules apply at every start
            self._add({**normalize(rule), "id": f"site-{index}"})
        self.poll()
        threading.Thread(target=self._watch, name="faults-watch", daemon=True).start()

    def _watch(self):
        while not self.lab.stopping.wait(0.1):
            try:
                self.poll()
            except Exception:  # a half-written or bad file: the next poll tries again
                import logging

                logging.getLogger("lab.faults").exception("fault rules not applied")

    def poll(self):
        path = self.lab.state_dir / RUNTIME_FILE
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None
        with self.lock:
            if stamp is not None and stamp != self._stamp:
                self._stamp = stamp
                data = _read(path) or {}
                if data.get("clear") and data["clear"] != self.clear_token:
                    self.clear_token = data["clear"]
                    self._clear()
                for rule in data.get("rules", []):
                    if rule.get("id") not in self.seen:
                        try:
                            self._add(normalize(rule))
                        except (ValueError, KeyError) as exc:  # taken, but without effect
                            self.seen.add(rule.get("id"))
                            logging.getLogger("lab.faults").error("fault %s not applied: %s", rule, exc)
                _write(self.lab.state_dir / APPLIED_FILE, {"ids": sorted(self.seen), "clear": self.clear_token})
            for rule in self.rules:
                if rule.pending:
                    self._apply_engine_api(rule)

    def _add(self, rule):
        self.seen.add(rule["id"])
        entry = _Rule(rule)
        self.rules.append(entry)
        kind = rule["kind"]
        if kind == "engine-api":
            entry.pending = True
            self._apply_engine_api(entry)
        elif kind == "host-key":
            self._change_host_key(rule["host"])
        elif kind == "power-on":
            for host in self.lab.hosts.values():
                if rule["host"] in ("*", host.name):
                    host.power_on()
            entry.remaining = 0
        elif kind == "refuse" and "seconds" in rule:
            self._close_listener(rule["host"], rule["seconds"])
            entry.remaining = 0

    def _clear(self):
        self.rules = []
        for name, key in self.original_keys.items():
            self.lab.keys[name] = key
        self.original_keys = {}
        if self.lab.engines is not None:
            for api in (self.lab.engines.original, self.lab.engines.new):
                if api is not None:
                    with api._lock:
                        api._injections.clear()

    def record(self, host, fault, command, status=None, detail=""):
        log = self.lab.command_log
        if log is not None:
            log.append(
                {
                    "host": host,
                    "time": time.time(),
                    "kind": "fault",
                    "fault": fault,
                    "command": command,
                    "status": status,
                    "detail": detail,
                }
            )

    # engine API
    def _apply_engine_api(self, rule):
        engines = self.lab.engines
        api = None if engines is None else (engines.original if rule["api"] == "original" else engines.new)
        if api is None:
            return
        self._wrap(api, "engine-api" if rule["api"] == "original" else "engine-api-new")
        if "status" in rule.rule:
            api.fail_next(rule.remaining, int(rule["status"]))
        else:
            api.hang_next(float(rule["hang"]), rule.remaining)
        rule.pending = False
        rule.remaining = 0

    def _wrap(self, api, name):
        """Record each injection when a request takes it."""
        if id(api) in self._wrapped:
            return
        self._wrapped.add(id(api))
        take = api.take_injection

        def take_and_record():
            injection = take()
            if injection is not None:
                what = f"HTTP {injection[1]}" if injection[0] == "fail" else f"hang {injection[1]}s"
                self.record(
                    name,
                    "engine-api",
                    f"API request answered with an injected {what}",
                    injection[1] if injection[0] == "fail" else None,
                )
            return injection

        api.take_injection = take_and_record

    # host keys
    def _change_host_key(self, name):
        import paramiko

        if name not in self.lab.keys:
            raise ValueError(f"fault host-key: no host {name!r}")
        self.original_keys.setdefault(name, self.lab.keys[name])
        key = paramiko.Ed25519Key.from_private_key(_new_ed25519_pem())
        self.lab.keys[name] = key
        self.record(name, "host-key", "host key changed", None, f"now serving ssh-ed25519 {key.get_base64()}")

    # connections
    def _close_listener(self, name, seconds):
        """Close the host's listener for `seconds` (clients get ECONNREFUSED), then listen again."""
        sock = self.lab.listeners[name]
        port = sock.getsockname()[1]
        self.lab.fixed_ports = getattr(self.lab, "fixed_ports", {})
        self.lab.fixed_ports[name] = port
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        self.record(name, "refuse", f"listener closed for {seconds:g}s", None, f"port {port}")

        def reopen():
            time.sleep(seconds)
            while not self.lab.stopping.is_set():
                try:
                    self.lab.listeners[name] = self.lab._listen(port)
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                return
            self.lab._start_accepting(name)

        threading.Thread(target=reopen, name=f"reopen-{name}", daemon=True).start()

    def refuse(self, name, conn) -> bool:
        """Called for each accepted connection: True when a refuse rule reset it."""
        with self.lock:
            rule = next((r for r in self.rules if r["kind"] == "refuse" and r.matches(name)), None)
            if rule is None:
                return False
            rule.take()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # RST: the client's connection is reset before any banner
        self.record(name, "refuse", "connection reset", None)
        return True

    # commands
    def _find(self, kind, name, line):
        with self.lock:
            rule = next((r for r in self.rules if r["kind"] == kind and r.matches(name, line)), None)
            if rule is not None:
                rule.take()
            return rule

    def failed_task(self, name, task) -> str | None:
        """The message a matching deploy-task rule fails the role's task with, or None."""
        with self.lock:
            found = (r for r in self.rules if r["kind"] == "deploy-task" and r["task"] == task and r.matches(name))
            rule = next(found, None)
            if rule is None:
                return None
            rule.take()
        self.record(name, "deploy-task", f"TASK [{task}]", None, rule["msg"])
        return rule["msg"]

    def slow_seconds(self, name, line) -> float:
        """How long a matching slow rule holds a command that has started (an exec request or a unit's)."""
        slow = self._find("slow", name, line)
        if slow is None:
            return 0.0
        self.record(name, "slow", line, None, f"slowed {slow['seconds']:g}s")
        return float(slow["seconds"])

    def run_exec(self, host, channel, line, run, answered):
        """Run one exec request under the active rules: (out, err, status), or None after a drop."""
        started = time.monotonic()
        failing = self._find("command", host.name, line)
        if failing is not None:
            self.record(host.name, "command", line, failing["status"], failing["stderr"])
            return failing["stdout"].encode(), failing["stderr"].encode(), failing["status"]
        drop = self._find("drop", host.name, line)
        result = run()
        if drop is None:
            return result
        answered.wait(5)
        if "after_bytes" in drop.rule:
            channel.sendall(result[0][: int(drop["after_bytes"])])
            detail = f"after {int(drop['after_bytes'])} bytes"
        else:
            time.sleep(max(0.0, float(drop["after_seconds"]) - (time.monotonic() - started)))
            detail = f"after {float(drop['after_seconds']):g}s"
        self.record(host.name, "drop", line, result[2], f"connection closed {detail}, no exit status sent")
        channel.get_transport().close()
        return None


def _new_ed25519_pem():
    import io

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return io.StringIO(pem.decode())


# --- long steps -------------------------------------------------------------------------------
def critical_path(site_path) -> list[tuple[str, float]]:
    """The migration's long steps one after another: backup, deploy, each node's conversion."""
    from lab import site as site_mod
    from lab.engine_api import DEFAULT_DELAYS, load_model
    from lab.ovirt_site import settings

    site = site_mod.load(site_path)
    cfg = settings(site)
    delays = {**DEFAULT_DELAYS, **(cfg.get("engine_delays") or {})}
    model = load_model(str(Path(site.path).parent / cfg["engine_model"])) if cfg.get("engine_model") else load_model()
    steps = [
        ("engine-backup", float(cfg.get("backup_seconds") or 0)),
        ("hosted-engine --deploy", float(cfg["deploy_seconds"])),
    ]
    lab_hosts = {h.name for h in site.hosts if h.role == "hypervisor"} | {
        h.fqdn for h in site.hosts if h.role == "hypervisor"
    }
    for host in model.get("hosts", []):
        if host["name"] not in lab_hosts and host.get("address") not in lab_hosts:
            continue
        runs_vms = any(vm.get("host") == host["name"] and vm.get("status", "up") == "up" for vm in model.get("vms", []))
        steps.append(
            (
                f"{host['name']}: maintenance" + (" (VMs migrate)" if runs_vms else ""),
                float(delays["migration"] if runs_vms else delays["maintenance"]),
            )
        )
        steps.append((f"{host['name']}: install", float(delays["install"])))
        steps.append((f"{host['name']}: reboot", float(delays["reboot"])))  # install's default reboot=true
        steps.append((f"{host['name']}: activation", float(delays["initializing"])))
    return steps
