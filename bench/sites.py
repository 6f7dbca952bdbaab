"""Many sites at once: `python -m bench sites [--preview-sites 10] [--up-sites 4] [--out bench/results]`.

Every site is a default lab site of its own (one lab process each, the lab stack's settings pointed at it),
all stacks in one project and one backend, driven by the same functions as `./run sites` (cli/sites.py).
Measured in one run, each a ratio:

* `sites preview` of N sites in parallel ÷ the same N previewed one after another (previews are CPU-bound:
  on these 2 cores the limit is the core count; target ≤ 0.6);
* `sites up` of M sites in parallel ÷ the longest of the M single-site `up`s, each single one on a fresh lab
  of its own first (a migration mostly waits on its hosts; target ≤ 1.3).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.harness import ADMIN_PASSWORD, REPO
from cli import sites
from lab.testing import LabProcess, make_client_key
from tests.harness import ProjectStack, migration_settings, pinned_ports_site

TARGETS = {"preview_parallel_over_sequential": 0.6, "up_parallel_over_longest_single": 1.3}


class Fleet:
    """N lab sites and their stacks, in one project copy and one file backend."""

    def __init__(self, work: Path, count: int, key, tag: str):
        self.labs, self.names, self.project = [], [], None
        work.mkdir(parents=True, exist_ok=True)
        for index in range(1, count + 1):
            name = f"{tag}-{index:02d}"
            site, ports = pinned_ports_site(work / f"{name}.yaml")
            lab = LabProcess(work / f"lab-{name}", site=site, authorized_keys=[key[1]], client_key=key[0])
            lab.start()
            self.labs.append(lab)
            self.project = self.project or ProjectStack(work / "project", name)
            stack = self.project if self.project.stack.name == name else self.project.another(name)
            settings = {**migration_settings(lab, ports), "haDrill": {"enabled": False}}
            stack.configure(
                settings,
                {
                    "sshPrivateKey": key[0].read_text(),
                    "adminPassword": ADMIN_PASSWORD,
                    "engineRootPassword": "bench-root-Pa55",
                },
            )
            self.names.append(name)

    def environment(self):
        os.environ.update(self.project.env)

    def stop(self):
        for lab in self.labs:
            lab.stop()


def timed(action) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def preview_ratio(work: Path, count: int, key) -> dict:
    fleet = Fleet(work / "preview", count, key, "preview")
    try:
        fleet.environment()
        project = fleet.project.work_dir
        sites.preview_site(fleet.names[0], project)  # a warm-up: plugins and byte code in place
        parallel = timed(lambda: sites.preview_all(fleet.names, project))
        sequential = timed(lambda: [sites.preview_site(n, project) for n in fleet.names])
    finally:
        fleet.stop()
    return {
        "sites": count,
        "parallel_s": round(parallel, 1),
        "sequential_s": round(sequential, 1),
        "ratio": parallel / sequential,
    }


def single_up(work: Path, index: int, key) -> float:
    fleet = Fleet(work / f"single-{index}", 1, key, f"single{index}")
    try:
        fleet.environment()
        return timed(lambda: sites.up_sites(fleet.names, fleet.project.work_dir, work / "reports", io.StringIO()))
    finally:
        fleet.stop()


def up_ratio(work: Path, count: int, key) -> dict:
    singles = [single_up(work, index, key) for index in range(count)]  # each alone, on a fleet of one
    fleet = Fleet(work / "together", count, key, "together")
    try:
        fleet.environment()
        out = io.StringIO()
        together = timed(
            lambda: sites.up_sites(fleet.names, fleet.project.work_dir, work / "reports", out, parallel=count)
        )
        assert "FAILED" not in out.getvalue(), out.getvalue()[-3000:]
    finally:
        fleet.stop()
    return {
        "sites": count,
        "parallel_s": round(together, 1),
        "singles_s": [round(s, 1) for s in singles],
        "ratio": together / max(singles),
    }


def markdown(results: dict) -> str:
    p, u = results["preview"], results["up"]
    mark = {k: "✓" if v <= TARGETS[k] else "✗" for k, v in results["ratios"].items()}
    return "\n".join(
        [
            "# Many sites at once",
            "",
            f"Command: `{results['command']}`, started {results['started']}, took {results['elapsed_s']} s, "
            f"{os.cpu_count()} cores.",
            "",
            "| measure | ratio | target |",
            "|---|---|---|",
            f"| `sites preview` of {p['sites']} sites in parallel ({p['parallel_s']} s) ÷ one after another "
            f"({p['sequential_s']} s) | {results['ratios']['preview_parallel_over_sequential']:.2f} "
            f"{mark['preview_parallel_over_sequential']} | ≤ 0.6 |",
            f"| `sites up` of {u['sites']} sites in parallel ({u['parallel_s']} s) ÷ the longest single `up` "
            f"({max(u['singles_s'])} s of {u['singles_s']}) | {results['ratios']['up_parallel_over_longest_single']:.2f} "
            f"{mark['up_parallel_over_longest_single']} | ≤ 1.3 |",
            "",
        ]
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sites", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preview-sites", type=int, default=10)
    parser.add_argument("--up-sites", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ovirt-she-bench-sites-"))
    started = time.time()
    try:
        key = make_client_key(work / "keys")
        results = {
            "command": "python -m bench sites " + " ".join(argv or []),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "preview": preview_ratio(work, args.preview_sites, key),
            "up": up_ratio(work, args.up_sites, key),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["elapsed_s"] = round(time.time() - started, 1)
    results["ratios"] = {
        "preview_parallel_over_sequential": results["preview"]["ratio"],
        "up_parallel_over_longest_single": results["up"]["ratio"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sites.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "sites.md").write_text(markdown(results))
    print(markdown(results))
    return 0
