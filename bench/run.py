"""Benchmarks: `python -m bench [--sizes 3x1,10x5,50x20] [--out bench/results]`.

For each size HxE (H existing hypervisors, each with a multipath override, E storage exports on
E different servers, `--nodes` of the hypervisors converted to hosted-engine nodes) this starts
fresh instrumented labs and measures, in the same run:

* the full migration's `pulumi up --parallel N` (N = every resource, so that the independent
  preparation can all run at once) against the lab's critical path plus the engine floor's `up`
  at the same parallelism (bench/floor: the same number and shape of do-nothing dynamic
  resources, same CLI and venv); and the same at the CLI's default parallelism (8) against the
  shortest schedule the lab allows with 8 at a time;
* preparation only (exports and overrides), `pulumi up` with the default parallelism and with
  `--parallel 1`, each on a fresh lab;
* `pulumi preview` of the site against the floor's preview;
* a no-op `pulumi up` against `pulumi preview` of the converged stack;
* SSH connections per host (from the lab's connection log) and the provider processes' peak memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

from bench import report, site_gen, window
from bench.harness import ADMIN_PASSWORD, DEFAULT_PULUMI_BIN, REPO, ROOT_PASSWORD, BenchLab, Memory, Project, Run
from lab.testing import reserved_port
from providers import plugin
from tests.harness import PROGRAM as PROJECT_FILES

PULUMI_DEFAULT_PARALLEL = 8  # `pulumi up --help`: (default 8)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        hosts, _, exports = item.strip().partition("x")
        sizes.append((int(hosts), int(exports or 1)))
    return sizes


def _args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="3x1,10x5",
        help="comma-separated HOSTSxEXPORTS (default 3x1,10x5; the issue's largest is 50x20)",
    )
    parser.add_argument("--nodes", type=int, default=2, help="hypervisors converted to hosted-engine nodes (default 2)")
    parser.add_argument(
        "--prep-delay",
        type=float,
        default=0.5,
        help="seconds `exportfs -r` and `systemctl reload multipathd` take in the lab (default 0.5)",
    )
    parser.add_argument("--deploy-seconds", type=float, default=2.0, help="lab ovirt.deploy_seconds (default 2)")
    parser.add_argument("--migration", type=float, default=1.0, help="lab engine delay: one VM migration (s)")
    parser.add_argument("--maintenance", type=float, default=0.5, help="lab engine delay: maintenance without VMs (s)")
    parser.add_argument("--install", type=float, default=2.0, help="lab engine delay: host-deploy (s)")
    parser.add_argument("--initializing", type=float, default=1.0, help="lab engine delay: initializing -> up (s)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="trials per size; each time reported is the median of the trials (default 3)",
    )
    parser.add_argument(
        "--out", default=str(REPO / "bench" / "results"), help="where the tables go (default bench/results)"
    )
    parser.add_argument(
        "--skip-window", action="store_true", help="leave out the outage window's benchmark (bench/window.py)"
    )
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed afterwards)")
    parser.add_argument(
        "--pulumi-bin",
        default=os.environ.get("BENCH_PULUMI_BIN", str(DEFAULT_PULUMI_BIN)),
        help="folder of the pulumi CLI and its Python plugins",
    )
    return parser.parse_args(argv)


def machine(pulumi_bin: Path) -> dict:
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    cli = subprocess.run([str(pulumi_bin / "pulumi"), "version"], capture_output=True, text=True).stdout.strip()
    import pulumi

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1048576, 1),
        "python": platform.python_version(),
        "pulumi_cli": cli,
        "pulumi_sdk": getattr(pulumi, "__version__", None) or _sdk_version(),
        "os": platform.platform(),
    }


def _sdk_version() -> str:
    from importlib.metadata import version

    return version("pulumi")


def _per_host(connections: list[dict]) -> dict:
    counts = Counter(c["host"] for c in connections)
    return {
        "hosts": len(counts),
        "max": max(counts.values(), default=0),
        "mean": round(sum(counts.values()) / len(counts), 2) if counts else 0.0,
        "by_host": dict(sorted(counts.items())),
    }


PREP_COMMANDS = ("exportfs -r", "systemctl reload multipathd")


def phases(commands: list[dict], up, opts, nodes: int, hosts: int, delays: dict) -> dict:
    """Where the full `up` spent its time, from the lab's command log (each entry is logged when its
    command ends), next to the lab's own share of each phase."""
    mine = sorted((c for c in commands if up.started <= c["time"] <= up.ended), key=lambda c: c["time"])
    if not mine:
        return {}
    first, last = mine[0]["time"], mine[-1]["time"]
    prep = max((c["time"] for c in mine if c["command"].startswith(PREP_COMMANDS)), default=first)
    deploy = max((c["time"] for c in mine if "hosted-engine --deploy" in c["command"]), default=prep)
    return {
        "startup_s": {"measured": first - up.started, "lab": 0.0},
        "preparation_s": {"measured": prep - first, "lab": opts.prep_delay},
        "backup_and_deploy_s": {"measured": deploy - prep, "lab": opts.deploy_seconds},
        "nodes_s": {
            "measured": last - deploy,
            "lab": nodes * site_gen.per_node(hosts, delays),
        },
        "finish_s": {"measured": up.ended - last, "lab": 0.0},
        "commands": len(mine),
    }


def _span(connections: list[dict], commands: list[dict]) -> float:
    """The preparation itself, from the lab's logs: its first SSH connection to its last command."""
    start = min(c["time"] for c in connections)
    return max(c["time"] for c in commands if c["time"] >= start) - start


def _median(items: list, key=None):
    """The middle item (the upper of the two middle ones for an even count)."""
    return sorted(items, key=key)[len(items) // 2]


def _median_run(runs: list) -> Run:
    """The run with the median time; memory is the largest seen in any of them."""
    middle = _median(runs, key=lambda r: r.seconds)
    memory = Memory(
        max(r.memory.provider_peak_kb for r in runs),
        max(r.memory.provider_processes for r in runs),
        max(r.memory.tree_peak_kb for r in runs),
    )
    return replace(middle, memory=memory)


class _Trial:
    """One measurement of every run of a size, each on a fresh lab and a fresh stack."""

    def __init__(
        self, opts, work: Path, site: Path, key, pulumi_bin: Path, ports: dict, shape: tuple, result: dict, log
    ):
        self.opts, self.work, self.site, self.key, self.pulumi_bin, self.ports = (
            opts,
            work,
            site,
            key,
            pulumi_bin,
            ports,
        )
        self.hosts, self.exports, self.nodes, self.delays = shape
        self.prepare, self.total, self.log = result["resources"]["preparation"], result["resources"]["total"], log
        self.lab_delays = {"exportfs -r": opts.prep_delay, "systemctl reload multipathd": opts.prep_delay}

    def _lab(self, name: str) -> BenchLab:
        return BenchLab(self.work / f"lab-{name}", self.site, self.key[1], self.lab_delays)

    def _stack(self, name: str, lab: BenchLab, full: bool) -> Project:
        stack = Project(self.work / f"project-{name}", REPO, PROJECT_FILES, self.pulumi_bin)
        secrets = {"sshPrivateKey": self.key[0].read_text()}
        if full:
            secrets.update(adminPassword=ADMIN_PASSWORD, engineRootPassword=ROOT_PASSWORD)
        settings = site_gen.stack_settings(
            lab.info, lab.known_hosts, self.hosts, self.exports, self.nodes, self.ports, full
        )
        stack.configure(site_gen.PROJECT, settings, secrets)
        return stack

    def _floor(self, name: str) -> Project:
        floor = Project(
            self.work / f"project-{name}", REPO / "bench" / "floor", ("Pulumi.yaml", "__main__.py"), self.pulumi_bin
        )
        floor.configure("bench-engine-floor", {"prepare": str(self.prepare), "chain": str(2 + self.nodes)})
        return floor

    def _timed(self, runs: dict, name: str, stack: Project, *args: str) -> None:
        runs[name] = stack.timed(*args)
        self.log(f"{name} {runs[name].seconds:.1f}s")

    def run(self) -> dict:
        runs, connections, spans, up = {}, {}, {}, ("up", "--yes", "--skip-preview")
        wide = ("--parallel", str(self.total))
        self.log(self.work.name)
        # The whole migration: plan, migrate (every resource allowed at once), then the converged
        # stack's preview and no-op up.
        with self._lab("full") as lab:
            stack = self._stack("site", lab, True)
            self._timed(runs, "preview", stack, "preview")
            before = len(lab.connections())
            self._timed(runs, "up", stack, *up, *wide)
            connections["up"] = _per_host(lab.connections()[before:])
            phases_of_up = phases(lab.commands(), runs["up"], self.opts, self.nodes, self.hosts, self.delays)
            self._timed(runs, "preview_converged", stack, "preview")
            before = len(lab.connections())
            self._timed(runs, "noop_up", stack, *up)
            connections["noop_up"] = _per_host(lab.connections()[before:])
        # The whole migration again at the CLI's default parallelism.
        with self._lab("default") as lab:
            self._timed(runs, "up_default", self._stack("default", lab, True), *up)
        # Preparation only, each way on a fresh lab, so both do the same work.
        for name, extra in (("prep_parallel", ()), ("prep_sequential", ("--parallel", "1"))):
            with self._lab(name) as lab:
                before = len(lab.connections())
                self._timed(runs, name, self._stack(name, lab, False), *up, *extra)
                opened = lab.connections()[before:]
                connections[name], spans[name] = _per_host(opened), _span(opened, lab.commands())
        # The engine floor: the same number and shape of do-nothing resources through the same CLI.
        floor = self._floor("floor")
        for name, args in (
            ("floor_preview", ("preview",)),
            ("floor_up", up),
            ("floor_preview_converged", ("preview",)),
            ("floor_noop_up", up),
        ):
            self._timed(runs, name, floor, *args)
        self._timed(runs, "floor_up_wide", self._floor("floor-wide"), *up, *wide)
        return {"runs": runs, "ssh_connections": connections, "phases": phases_of_up, "spans": spans}


def bench_size(hosts: int, export_count: int, opts, work: Path, key: tuple[Path, Path], pulumi_bin: Path) -> dict:
    nodes = min(opts.nodes, hosts)
    delays = {
        "migration": opts.migration,
        "maintenance": opts.maintenance,
        "install_start": 0.0,  # the Engine's thread pool starts an install within milliseconds
        "install": opts.install,
        "reboot": 0.0,
        "initializing": opts.initializing,
    }
    ports = {"engine_api_new_port": reserved_port(), "engine_vm_ssh_port": reserved_port()}
    tag = f"{hosts}x{export_count}"
    site = site_gen.write_site(
        work / tag / "site",
        hosts,
        export_count,
        nodes,
        {"deploy_seconds": opts.deploy_seconds, "engine_delays": delays, **ports},
    )
    prepare = hosts + export_count
    result = {
        "size": tag,
        "hosts": hosts,
        "exports": export_count,
        "nodes": nodes,
        "resources": {"preparation": prepare, "chain": 2 + nodes, "component": 1, "total": prepare + 2 + nodes + 1},
        "critical_path_s": site_gen.critical_path(nodes, hosts, opts.prep_delay, opts.deploy_seconds, delays),
        "schedule_bound_s": site_gen.critical_path(
            nodes,
            hosts,
            opts.prep_delay,
            opts.deploy_seconds,
            delays,
            prepare=prepare,
            parallel=PULUMI_DEFAULT_PARALLEL,
        ),
        "lab": {"prep_delay_s": opts.prep_delay, "deploy_seconds": opts.deploy_seconds, "engine_delays": delays},
    }

    def log(text):
        print(f"[{tag}] {text}", flush=True)

    shape = (hosts, export_count, nodes, delays)
    trials = [
        _Trial(opts, work / tag / f"trial-{i}", site, key, pulumi_bin, ports, shape, result, log).run()
        for i in range(1, opts.repeat + 1)
    ]
    # Each time is the median of the trials; the phases and connections come from the trial with the median `up`.
    runs = {name: _median_run([t["runs"][name] for t in trials]) for name in trials[0]["runs"]}
    typical = _median(trials, key=lambda t: t["runs"]["up"].seconds)
    result["phases"], result["ssh_connections"] = typical["phases"], typical["ssh_connections"]
    result["runs"] = {name: asdict(run) for name, run in runs.items()}
    result["trials"] = [{name: round(run.seconds, 2) for name, run in t["runs"].items()} for t in trials]
    result["prep_span_s"] = {name: _median([t["spans"][name] for t in trials]) for name in trials[0]["spans"]}
    seconds = {name: run.seconds for name, run in runs.items()}
    bound = min(prepare, PULUMI_DEFAULT_PARALLEL)
    result["ratios"] = {
        "up_over_cp_plus_floor": seconds["up"] / (result["critical_path_s"] + seconds["floor_up_wide"]),
        "up_default_over_bound_plus_floor": seconds["up_default"] / (result["schedule_bound_s"] + seconds["floor_up"]),
        "prep_speedup": result["prep_span_s"]["prep_sequential"] / result["prep_span_s"]["prep_parallel"],
        "prep_speedup_whole_run": seconds["prep_sequential"] / seconds["prep_parallel"],
        "prep_speedup_target": 0.8 * bound,
        "preview_over_floor": seconds["preview"] / seconds["floor_preview"],
        "noop_up_over_preview": seconds["noop_up"] / seconds["preview_converged"],
        "floor_noop_up_over_preview": seconds["floor_noop_up"] / seconds["floor_preview_converged"],
        "ssh_connections_per_host_max": result["ssh_connections"]["up"]["max"],
        "provider_peak_mib": runs["up"].memory.provider_peak_kb / 1024,
    }
    return result


def main(argv=None) -> int:
    opts = _args(argv)
    pulumi_bin = Path(opts.pulumi_bin)
    if not (pulumi_bin / "pulumi").exists():
        found = shutil.which("pulumi")
        if not found:
            print(f"no pulumi CLI in {pulumi_bin} or on PATH (run ./run tests once to build it)", file=sys.stderr)
            return 2
        pulumi_bin = Path(found).parent
    work = Path(opts.work) if opts.work else Path(tempfile.mkdtemp(prefix="ovirt-she-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    from lab.testing import make_client_key

    key = make_client_key(work / "keys")
    started = time.time()
    results = {
        "machine": machine(pulumi_bin),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "limits": {"pulumi_default_parallel": PULUMI_DEFAULT_PARALLEL, "provider_grpc_workers": plugin.WORKERS},
        "sizes": [],
    }
    try:
        for hosts, exports in parse_sizes(opts.sizes):
            results["sizes"].append(bench_size(hosts, exports, opts, work, key, pulumi_bin))
            results["elapsed_s"] = round(time.time() - started, 1)
            paths = report.write(results, Path(opts.out))  # after every size, so a long run keeps what it has
    finally:
        if not opts.work:
            shutil.rmtree(work, ignore_errors=True)
    print(report.markdown(results))
    print("written: " + ", ".join(str(p) for p in paths))
    if not opts.skip_window:  # the outage window against the earlier code, in the same run
        return window.main(["--repeat", str(opts.repeat), "--out", opts.out, "--pulumi-bin", str(pulumi_bin)])
    return 0
