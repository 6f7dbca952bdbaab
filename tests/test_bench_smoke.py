"""The benchmarks' smallest configuration, once, end to end: it must run and write its ratio table.

Timings are not asserted (they are measured, see bench/); only that every ratio was produced.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench.report import RATIO_COLUMNS

REPO = Path(__file__).resolve().parent.parent
RATIOS = (
    "up_over_cp_plus_floor",
    "up_default_over_bound_plus_floor",
    "prep_speedup",
    "preview_over_floor",
    "noop_up_over_preview",
    "ssh_connections_per_host_max",
    "provider_peak_mib",
)


def test_smallest_benchmark_writes_the_ratio_table(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "bench",
        "--sizes",
        "1x1",
        "--repeat",
        "1",
        "--nodes",
        "1",
        "--prep-delay",
        "0.1",
        "--deploy-seconds",
        "0.2",
        "--migration",
        "0.1",
        "--maintenance",
        "0.1",
        "--install",
        "0.2",
        "--initializing",
        "0.1",
        "--out",
        str(tmp_path / "results"),
        "--work",
        str(tmp_path / "work"),
        "--skip-window",  # measured by the test below
    ]
    if shutil.which("pulumi"):
        argv += ["--pulumi-bin", str(Path(shutil.which("pulumi")).parent)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert {"cores", "memory_gib", "python", "pulumi_cli"} <= set(results["machine"])
    [size] = results["sizes"]
    assert size["size"] == "1x1"
    for key in RATIOS:
        assert isinstance(size["ratios"][key], (int, float)) and size["ratios"][key] > 0, key
    table = (tmp_path / "results" / "results.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| size (hosts×exports)"))
    assert all(column in header for column in RATIO_COLUMNS), header


def test_the_many_sites_benchmark_writes_both_ratios(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "bench",
        "sites",
        "--preview-sites",
        "2",
        "--up-sites",
        "2",
        "--out",
        str(tmp_path / "results"),
    ]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "sites.json").read_text())
    assert results["preview"]["sites"] == 2 and len(results["up"]["singles_s"]) == 2
    for key in ("preview_parallel_over_sequential", "up_parallel_over_longest_single"):
        assert results["ratios"][key] > 0, key
    table = (tmp_path / "results" / "sites.md").read_text()
    assert "÷ one after another" in table and "÷ the longest single `up`" in table


def test_the_outage_window_benchmark_measures_this_code_and_the_earlier_one(tmp_path):
    """Both codes migrate the lab once; the window and time to HA are measured from outside for each."""
    argv = [sys.executable, "-m", "bench", "window", "--unit", "0.02", "--out", str(tmp_path / "results")]
    if shutil.which("pulumi"):
        argv += ["--pulumi-bin", str(Path(shutil.which("pulumi")).parent)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "window.json").read_text())
    [this, earlier] = results["codes"].values()
    for code in (this, earlier):
        assert code["window_s"] > 0 and code["time_to_ha_s"] > 0
        assert code["window_over_inside_work"] > 0 and code["time_to_ha_over_critical_path"] > 0
    assert this["tool_measured_window_s"] > 0 and earlier["tool_measured_window_s"] is None
    assert "| this code |" in (tmp_path / "results" / "window.md").read_text()
