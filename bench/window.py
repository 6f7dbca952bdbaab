"""The outage window's benchmark: `python -m bench window [--unit 0.2] [--baseline REF] [--repeat 1]`.

The lab site is migrated with durations in a real site's proportions, in units of `--unit` seconds: the appliance's
install 10 (offered by the repositories, not installed), engine-backup 5, the deploy 45, a node's conversion 10 (its
VM migrated away 1, host-deploy 8, initializing 1). In the same run it is migrated once with this code and once with
the code at `--baseline` (by default the last commit before the window's work, which installed the deploy's
packages after the backup and left the appliance to the deploy), each on a fresh lab, and for each it prints

* window ÷ the work that must run in it: the time from the original Engine's API no longer answering to the new
  Engine's API first answering, over engine-backup plus the deploy as the lab takes them (the copies of the lab's
  small archive take milliseconds);
* time to HA ÷ its critical path: from the new Engine answering until every node's hosted-engine score is positive,
  over the nodes' conversions one after another.

Both ends are watched from outside, as an administrator would see them: a thread asks each Engine API every 50 ms,
and reads the nodes' scores through the new Engine's API, so both codes are measured alike.
"""

from __future__ import annotations

import argparse
import io
import json
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import ovirtsdk4
import yaml

from bench import site_gen
from bench.harness import ADMIN_PASSWORD, DEFAULT_PULUMI_BIN, REPO, ROOT_PASSWORD, BenchLab, Project
from lab import ovirt_site
from lab.testing import make_client_key, reserved_port
from tests.harness import PROGRAM as PROJECT_FILES

BASELINE = "00c974a"  # the last commit before the deploy's packages and appliance moved before the backup
UNITS = {"appliance": 10, "backup": 5, "deploy": 45, "migration": 1, "install": 8, "initializing": 1}
NODES = 2
POLL = 0.05


def _args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench window", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--unit", type=float, default=0.2, help="seconds per unit of a site's time (default 0.2)")
    parser.add_argument("--baseline", default=BASELINE, help=f"the earlier code's commit (default {BASELINE})")
    parser.add_argument("--repeat", type=int, default=1, help="migrations per code; the median is shown (default 1)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="where window.json/.md go")
    parser.add_argument("--pulumi-bin", default=str(DEFAULT_PULUMI_BIN), help="folder of the pulumi CLI")
    return parser.parse_args(argv)


def lab_settings(unit: float, ports: dict) -> dict:
    """The lab's `ovirt:` durations in the site's proportions."""
    delays = {"migration": UNITS["migration"] * unit, "maintenance": unit, "install_start": 0.0}
    delays.update(install=UNITS["install"] * unit, reboot=0.0, initializing=UNITS["initializing"] * unit)
    return {
        "appliance_install_seconds": UNITS["appliance"] * unit,
        "backup_seconds": UNITS["backup"] * unit,
        "deploy_seconds": UNITS["deploy"] * unit,
        "engine_delays": delays,
        **ports,
    }


def write_site(directory: Path, settings: dict) -> Path:
    """Two hypervisors, both converted; the deploy host's repositories offer the appliance, none is installed."""
    path = site_gen.write_site(directory, NODES, 1, NODES, settings)
    data = yaml.safe_load(path.read_text())
    ovirt_site.ship_appliance(next(h for h in data["hosts"] if h["name"] == "deploy"), None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _answers(url: str, ca_file: str) -> bool:
    """Anything but Apache's 503 (or no connection) is the Engine answering: its API asks for credentials."""
    try:
        urllib.request.urlopen(url, timeout=1, context=_tls(ca_file))
    except urllib.error.HTTPError as refused:
        return refused.code != 503
    except OSError:
        return False
    return True


def _tls(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


@dataclass
class Watch:
    """When the original Engine stopped answering, the new one first answered, and every node first scored."""

    original: str
    new: str
    ca_file: str
    stopped: float | None = None
    answered: float | None = None
    scored: float | None = None
    api: ovirtsdk4.Connection | None = None
    measured: dict | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.wait(POLL):
            now = time.time()
            if self.stopped is None:
                self.stopped = None if _answers(self.original, self.ca_file) else now
            elif self.answered is None:
                self.answered = now if _answers(self.new, self.ca_file) else None
            elif self.scored is None and self._all_scored():
                self.scored = now
        if self.api is not None:
            self.api.close()

    def _all_scored(self) -> bool:
        """Every node's hosted-engine score is positive, as the new Engine's API gives it."""
        try:
            if self.api is None:
                self.api = ovirtsdk4.Connection(
                    url=self.new, username="admin@internal", password=ADMIN_PASSWORD, ca_file=self.ca_file, timeout=5
                )
            hosts = self.api.system_service().hosts_service().list(all_content=True)
        except ovirtsdk4.Error:
            self.api = None
            return False
        nodes = [h for h in hosts if h.name in site_gen.hypervisors(NODES)]
        return len(nodes) == NODES and all(((h.hosted_engine and h.hosted_engine.score) or 0) > 0 for h in nodes)


def baseline_tree(ref: str, into: Path) -> Path:
    """The earlier code, as committed at `ref`."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def migrate(name: str, source: Path, work: Path, site: Path, key, pulumi_bin: Path, ports: dict) -> Watch:
    with BenchLab(work / f"lab-{name}", site, key[1], {}) as lab:
        info = lab.info["engine_api"]
        new = f"https://127.0.0.1:{ports['engine_api_new_port']}/ovirt-engine/api"
        watch = Watch(info["url"], new, info["ca_file"])
        stack = Project(work / f"project-{name}", source, PROJECT_FILES, pulumi_bin)
        secrets = {"sshPrivateKey": key[0].read_text(), "adminPassword": ADMIN_PASSWORD}
        settings = site_gen.stack_settings(
            lab.info, lab.known_hosts, NODES, 1, NODES, ports, True, source / "stacks" / "Pulumi.lab.yaml"
        )
        stack.configure(site_gen.PROJECT, settings, {**secrets, "engineRootPassword": ROOT_PASSWORD})
        watcher = threading.Thread(target=watch.run, daemon=True)
        watcher.start()
        try:
            stack.timed("up", "--yes", "--skip-preview")
        finally:
            watch.done.set()
            watcher.join()
        outputs = json.loads(stack.cli("stack", "output", "--json", stack=True))
        watch.measured = (outputs.get("outageWindow") or {}).get("measured")  # the tool's own, where it has one
    return watch


def ratios(watch: Watch, unit: float) -> dict:
    inside = (UNITS["backup"] + UNITS["deploy"]) * unit
    path = NODES * (UNITS["migration"] + UNITS["install"] + UNITS["initializing"]) * unit
    window, to_ha = watch.answered - watch.stopped, watch.scored - watch.answered
    return {
        "window_s": round(window, 2),
        "tool_measured_window_s": watch.measured and watch.measured["seconds"],  # the stack output, where there is one
        "inside_work_s": inside,
        "window_over_inside_work": round(window / inside, 3),
        "time_to_ha_s": round(to_ha, 2),
        "ha_critical_path_s": path,
        "time_to_ha_over_critical_path": round(to_ha / path, 3),
    }


def markdown(results: dict) -> str:
    rows = [
        "| code | window (s) | backup + deploy (s) | window ÷ its work | time to HA (s) | its critical path (s) "
        "| time to HA ÷ critical path |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["codes"].items():
        rows.append(
            f"| {name} | {r['window_s']} | {r['inside_work_s']:.1f} | {r['window_over_inside_work']} | "
            f"{r['time_to_ha_s']} | {r['ha_critical_path_s']:.1f} | {r['time_to_ha_over_critical_path']} |"
        )
    return "\n".join([f"Outage window, unit {results['unit']} s ({results['started']})", "", *rows, ""])


def main(argv=None) -> int:
    opts = _args(argv)
    pulumi_bin = Path(opts.pulumi_bin)
    with tempfile.TemporaryDirectory(prefix="ovirt-she-window-") as scratch:
        work = Path(scratch)
        key = make_client_key(work / "keys")
        sources = {"this code": REPO, f"baseline {opts.baseline}": baseline_tree(opts.baseline, work / "baseline")}
        results = {"unit": opts.unit, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "codes": {}}
        for name, source in sources.items():
            trials = []
            for trial in range(opts.repeat):
                ports = {"engine_api_new_port": reserved_port(), "engine_vm_ssh_port": reserved_port()}
                site = write_site(work / f"site-{len(results['codes'])}-{trial}", lab_settings(opts.unit, ports))
                tag = f"{len(results['codes'])}-{trial}"
                trials.append(ratios(migrate(tag, source, work, site, key, pulumi_bin, ports), opts.unit))
                print(f"[{name}] {trials[-1]}", flush=True)
            results["codes"][name] = sorted(trials, key=lambda r: r["window_s"])[len(trials) // 2]
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "window.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "window.md").write_text(markdown(results))
    print(markdown(results))
    return 0
