"""Test helpers: run a lab in a subprocess and talk to its hosts.

with LabProcess(tmp_path / "lab", authorized_keys=[pub]) as lab:
    client = lab.ssh("storage", key_filename=priv)
"""

import base64
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.site import DEFAULT_SITE

REPO_ROOT = Path(__file__).resolve().parent.parent


class LabProcess:
    """`lab serve --random-ports` in a subprocess for the duration of a with-block."""

    def __init__(self, state_dir, site=None, authorized_keys=(), client_key=None, timeout=30):
        self.state_dir = Path(state_dir)
        self.site = Path(site) if site else DEFAULT_SITE
        self.authorized_keys = [Path(k) for k in authorized_keys]
        self.client_key = client_key
        self.timeout = timeout
        self.proc = None
        self.info = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def command(self):
        """How the lab is started: `python -m` this module with these arguments before `serve`."""
        return ["lab"]

    def start(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            *self.command(),
            "serve",
            "--state",
            str(self.state_dir),
            "--site",
            str(self.site),
            "--random-ports",
        ]
        for key in self.authorized_keys:
            argv += ["--authorized-key", str(key)]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        with open(self.state_dir / "lab.log", "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.info = self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + self.timeout
        path = self.state_dir / "lab.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lab exited with {self.proc.returncode}:\n{self.log()}")
            if path.exists():
                info = json.loads(path.read_text())
                if info["pid"] == self.proc.pid:
                    return info
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"lab not ready after {self.timeout}s:\n{self.log()}")

    def stop(self):
        """SIGTERM and wait, as `lab stop` does; state is saved by the lab."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.info = None

    def log(self):
        path = self.state_dir / "lab.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def known_hosts(self):
        return self.state_dir / "known_hosts"

    def port(self, name):
        return self.info["hosts"][name]["port"]

    def commands(self, host=None):
        """Recorded command lines (when they ended) and SFTP changes, oldest first, optionally for one host."""
        return [e for e in self._log("commands.jsonl", host) if e["kind"] != "start"]

    def started(self, host=None):
        """Command lines as they started (exec requests and units' commands), oldest first."""
        return [e for e in self._log("commands.jsonl", host) if e["kind"] == "start"]

    def connections(self, host=None):
        """SSH connections the hosts accepted ({"host", "time"}), oldest first, optionally for one host."""
        return self._log("connections.jsonl", host)

    def _log(self, name, host):
        path = self.state_dir / name
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [e for e in entries if host is None or e["host"] == host]

    def refresh(self):
        """Re-read lab.json (it changes when hosted-engine --deploy starts the new Engine API)."""
        self.info = json.loads((self.state_dir / "lab.json").read_text())
        return self.info

    @property
    def engine_api(self):
        """{"url", "ca_file"} of the original Engine's API."""
        return self.refresh()["engine_api"]

    @property
    def engine_api_new(self):
        """{"url", "ca_file"} of the new self-hosted Engine's API, or None before the deploy."""
        return self.refresh().get("engine_api_new")

    def engine_connection(self, new=False, username="admin@internal", password="lab-admin-password", **kwargs):
        """An ovirtsdk4.Connection to the original (or the new) Engine API."""
        import ovirtsdk4

        api = self.engine_api_new if new else self.engine_api
        if api is None:
            raise RuntimeError("the new Engine API is not running (no hosted-engine --deploy yet)")
        kwargs.setdefault("timeout", 10)
        return ovirtsdk4.Connection(
            url=api["url"], username=username, password=password, ca_file=api["ca_file"], **kwargs
        )

    def inject_fault(self, kind, **rule):
        """Add a fault rule (lab/faults.py) to the running lab and wait until it is active; returns its id."""
        from lab import faults

        rule_id = faults.add_rule(self.state_dir, {**rule, "kind": kind})
        if not faults.wait_applied(self.state_dir, rule_id):
            raise RuntimeError(f"the lab did not take fault {rule}:\n{self.log()}")
        return rule_id

    def clear_faults(self):
        """Drop every fault rule and give changed hosts their original keys back."""
        from lab import faults

        token = faults.clear_rules(self.state_dir)
        if not faults.wait_applied(self.state_dir, clear=token):
            raise RuntimeError(f"the lab did not clear its faults:\n{self.log()}")

    def faults(self, host=None):
        """The faults that took effect (commands.jsonl entries of kind `fault`), oldest first."""
        return [e for e in self.commands(host) if e["kind"] == "fault"]

    def host_state(self, name):
        return json.loads((self.state_dir / "hosts" / f"{name}.json").read_text())

    def disk_file(self, name, path):
        """A file's bytes as host NAME's disk holds them, read without the host (one that is off, say)."""
        return base64.b64decode(self.host_state(name)["files"][path]["data"])

    def ssh(self, name, key_filename=None):
        """A connected SSHClient that only trusts the lab's known_hosts."""
        return ssh_client(self.port(name), self.known_hosts, key_filename or self.client_key)


def ssh_client(port, known_hosts, key_filename):
    """A connected SSHClient to a lab host's loopback PORT as root, trusting only the KNOWN_HOSTS file."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=port,
        username="root",
        key_filename=str(key_filename),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def reserved_port():
    """A loopback port for a server the lab starts later (a pinned site port): free now and below the
    kernel's ephemeral range, so no outgoing connection (an SSH client's, the SDK's) can take it
    meanwhile and make the later bind fail."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port below {low}")


def run(client, command, stdin=None, timeout=10):
    """Exec one command line; returns (status, stdout, stderr) as text."""
    chan = client.get_transport().open_session(timeout=timeout)
    chan.settimeout(timeout)
    chan.exec_command(command)
    if stdin is not None:
        chan.sendall(stdin)
    chan.shutdown_write()
    out, err = chan.makefile("rb").read(), chan.makefile_stderr("rb").read()
    status = chan.recv_exit_status()
    chan.close()
    return status, out.decode(), err.decode()


def make_client_key(directory, name="id_ed25519"):
    """Write an OpenSSH ed25519 key pair; returns (private path, public path)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = directory / name
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    private.chmod(0o600)
    public = directory / f"{name}.pub"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        + b" lab-test\n"
    )
    return private, public


def site_variant(path, modify, base=DEFAULT_SITE):
    """Write a copy of a site file after modify(data) has changed its parsed dict."""
    data = yaml.safe_load(Path(base).read_text())
    modify(data)
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
    return Path(path)
