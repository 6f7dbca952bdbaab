"""`./run sites`: three lab sites previewed in parallel, one of them with a failing prerequisite; then up site by site."""

import json
import os
import subprocess
import sys

import pytest

from lab.testing import LabProcess
from tests.harness import ProjectStack, migration_settings, pinned_ports_site

ADMIN_PASSWORD = "lab-admin-password"
SITES = ("site-a", "site-b", "site-c")


@pytest.fixture(scope="module")
def sites(tmp_path_factory, client_key):
    """One project with three site stacks, each on its own lab; site-c has a forbidden multipath setting."""
    labs, stacks = [], {}
    root = tmp_path_factory.mktemp("sites")
    project = None
    try:
        for name in SITES:
            site, ports = pinned_ports_site(root / f"{name}.yaml")
            lab = LabProcess(root / f"lab-{name}", site=site, authorized_keys=[client_key[1]], client_key=client_key[0])
            lab.start()
            labs.append(lab)
            project = project or ProjectStack(root / "project", name)
            stack = project if project.stack.name == name else project.another(name)
            settings = migration_settings(lab, ports)
            if name == "site-c":
                settings["multipathOverrides"][0]["settings"]["defaults"] = {"find_multipaths": "yes"}
            stack.configure(
                settings,
                {
                    "sshPrivateKey": client_key[0].read_text(),
                    "adminPassword": ADMIN_PASSWORD,
                    "engineRootPassword": "sites-root-Pa55",
                },
            )
            stacks[name] = stack
        yield project
    finally:
        for lab in labs:
            lab.stop()


def run_sites(project, *args):
    return subprocess.run(
        [sys.executable, "-m", "cli.sites", *args],
        cwd=project.work_dir,
        env={**os.environ, **project.env},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_preview_prints_a_readiness_table_with_exactly_the_failing_site(sites):
    done = run_sites(sites, "preview")  # no names: every stacks/Pulumi.<site>.yaml
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["SITE", "READY", "ERRORS", "WARNINGS", "TO", "CREATE"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert set(rows) == set(SITES)
    for name in ("site-a", "site-b"):
        site, ready, errors, warnings, create = rows[name]
        assert (ready, errors, create) == ("yes", "0", "15"), done.stdout
    site, ready, errors, warnings, create = rows["site-c"]
    assert (ready, errors, create) == ("NO", "1", "-"), done.stdout
    details = [line for line in lines if line.startswith("site-c: error:")]
    assert len(details) == 1 and "find_multipaths" in details[0]
    assert not [line for line in lines if line.startswith(("site-a: error", "site-b: error"))]


def test_preview_of_named_stacks_only(sites):
    done = run_sites(sites, "preview", "site-b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[1:] if line and not line.startswith("site-b:")] == [
        "site-b"
    ]


def test_preview_as_json_for_scripts(sites):
    done = run_sites(sites, "preview", "--json", "site-b", "site-c")
    assert done.returncode == 1
    rows = {row["site"]: row for row in json.loads(done.stdout)}
    assert rows["site-b"]["ready"] is True and rows["site-b"]["toCreate"] == 15 and rows["site-b"]["errors"] == []
    assert rows["site-c"]["ready"] is False and "find_multipaths" in rows["site-c"]["errors"][0]


def test_up_migrates_sites_side_by_side_and_a_failing_one_stops_no_other(sites, tmp_path):
    done = run_sites(sites, "up", "--parallel-sites", "3", "site-a", "site-c", "site-b", "--reports", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    starts = [out.index(f"==> {name}: pulumi up") for name in SITES]
    assert max(starts) < min(out.index("==> site-a: done"), out.index("==> site-b: done"))  # all three under way
    assert "==> site-c: FAILED" in out
    table = out[out.index("SITE  ") :].splitlines()
    assert [row.split()[:2] for row in table[1:]] == [
        ["site-a", "migrated"],
        ["site-c", "FAILED"],
        ["site-b", "migrated"],
    ]
    for name in ("site-a", "site-b"):
        report = (tmp_path / f"{name}.md").read_text()
        assert "hosted-engine-node-host2" in report and (tmp_path / f"{name}.html").is_file()
    outputs = json.loads(
        subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", "site-c"],
            cwd=sites.work_dir,
            env={**os.environ, **sites.env},
            capture_output=True,
            text=True,
        ).stdout
        or "{}"
    )
    assert outputs == {}  # site-c, refused at its preview, was never touched
