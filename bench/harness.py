"""Runs the instrumented lab and Pulumi projects through the pulumi CLI, timing each command and
sampling the memory of the provider processes it starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.testing import LabProcess

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PULUMI_BIN = (
    Path(os.environ.get("OVIRT_SHE_CACHE", Path.home() / ".cache" / "ovirt-she-migration")) / "pulumi-v3.252.0" / "bin"
)
ADMIN_PASSWORD = "lab-admin-password"
ROOT_PASSWORD = "bench-engine-vm-Pa55"
PASSPHRASE = "bench-passphrase"
PROVIDER_MARKERS = ("pulumi-resource-pulumi-python", "pulumi.dynamic", "providers.plugin")


class BenchLab(LabProcess):
    """The lab, started through bench.lab_serve so that the preparation commands take `delays`."""

    def __init__(self, state_dir: Path, site: Path, public_key: Path, delays: dict, timeout: float = 180):
        super().__init__(state_dir, site=site, authorized_keys=[public_key], timeout=timeout)
        self.delays = delays

    def command(self) -> list[str]:
        return ["bench.lab_serve", "--delays", json.dumps(self.delays), "--"]


@dataclass
class Memory:
    provider_peak_kb: int = 0  # the dynamic provider processes together, at their largest
    provider_processes: int = 0  # most provider processes seen at once
    tree_peak_kb: int = 0  # the CLI and everything under it


def _process_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, command line, resident kB)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            rss = 0
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
        except OSError:
            continue
        table[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline, rss)
    return table


def _sample(root: int, memory: Memory, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        table = _process_table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        tree, queue = [], [root]
        while queue:
            pid = queue.pop()
            if pid in table:
                tree.append(pid)
            queue += children.get(pid, [])
        providers = [pid for pid in tree if any(m in table[pid][1] for m in PROVIDER_MARKERS)]
        memory.provider_peak_kb = max(memory.provider_peak_kb, sum(table[p][2] for p in providers))
        memory.provider_processes = max(memory.provider_processes, len(providers))
        memory.tree_peak_kb = max(memory.tree_peak_kb, sum(table[p][2] for p in tree))


@dataclass
class Run:
    command: str
    seconds: float
    summary: str
    memory: Memory = field(default_factory=Memory)
    started: float = 0.0  # wall clock, to place the lab's command log against the run
    ended: float = 0.0


class Project:
    """A copy of a Pulumi project with its own file backend and one stack, driven through the CLI."""

    def __init__(self, work_dir: Path, source: Path, files, pulumi_bin: Path, stack: str = "bench"):
        self.dir, self.stack = Path(work_dir), stack
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        for name in files:
            if (source / name).is_dir():
                shutil.copytree(source / name, self.dir / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source / name, self.dir / name)
        (self.dir / ".venv").symlink_to(REPO / ".venv")
        # Byte-compiled beforehand, as a checkout that has run once is: the first run times the tool, not the compiler.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(self.dir)], check=True)
        (self.dir / "stacks").mkdir(exist_ok=True)
        (self.dir / ".state").mkdir()
        self.env = {
            **os.environ,
            "PATH": f"{pulumi_bin}:{os.environ.get('PATH', '')}",
            "PULUMI_BACKEND_URL": f"file://{self.dir / '.state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_HOME": str(self.dir / ".pulumi-home"),
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }
        self.cli("stack", "init", stack, "--secrets-provider", "passphrase")

    def cli(self, *args: str, stack: bool = False) -> str:
        argv = ["pulumi", *args] + (["--stack", self.stack] if stack else [])
        done = subprocess.run(argv, cwd=self.dir, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(argv[:3])}` failed in {self.dir}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def configure(self, project: str, plain: dict, secrets: dict | None = None) -> None:
        argv = ["config", "set-all"]
        for key, value in plain.items():
            argv += ["--plaintext", f"{project}:{key}={value if isinstance(value, str) else json.dumps(value)}"]
        for key, value in (secrets or {}).items():
            argv += ["--secret", f"{project}:{key}={value}"]
        self.cli(*argv, stack=True)

    def timed(self, *args: str, sample_interval: float = 0.1) -> Run:
        """One timed CLI command (`preview` or `up ...`), its memory sampled, its summary kept."""
        argv = ["pulumi", *args, "--stack", self.stack, "--non-interactive"]
        start, started = time.monotonic(), time.time()
        proc = subprocess.Popen(
            argv, cwd=self.dir, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        memory, stop = Memory(), threading.Event()
        sampler = threading.Thread(target=_sample, args=(proc.pid, memory, stop, sample_interval), daemon=True)
        sampler.start()
        out, err = proc.communicate()
        seconds = time.monotonic() - start
        stop.set()
        sampler.join()
        if proc.returncode != 0:
            raise RuntimeError(f"`{' '.join(argv)}` failed in {self.dir}:\n{out[-4000:]}\n{err[-3000:]}")
        return Run(" ".join(["pulumi", *args]), seconds, _summary(out), memory, started, time.time())


def _summary(stdout: str) -> str:
    """The `Resources:` block, on one line: `11 to create` / `12 unchanged`."""
    lines = stdout.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Resources:")
    except StopIteration:
        return ""
    found = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.strip().startswith("Duration"):
            break
        found.append(" ".join(line.split()))
    return "; ".join(found)
