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
            if project is None:
                project = ProjectStack(root / "project", name)
                stack = project
            else:
                stack = ProjectStack.__new__(ProjectStack)
                stack.work_dir, stack.env = project.work_dir, project.env
                from pulumi import automation as auto

                workspace = auto.LocalWorkspace(
                    work_dir=str(project.work_dir), env_vars=project.env, secrets_provider="passphrase"
                )
                stack.stack = auto.Stack.create(name, workspace)
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
        assert (ready, errors, create) == ("yes", "0", "13"), done.stdout
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


def test_up_goes_site_by_site_and_stops_at_the_first_failure(sites, tmp_path):
    done = run_sites(sites, "up", "site-a", "site-c", "site-b", "--reports", str(tmp_path))
    assert done.returncode == 1
    out = done.stdout
    assert (
        out.index("==> site-a: pulumi up (1 of 3)")
        < out.index("==> site-a: done")
        < out.index("==> site-c: pulumi up (2 of 3)")
    )
    assert "==> site-c: FAILED" in out and "==> not started: site-b" in out
    assert "site-b: pulumi up" not in out
    report = (tmp_path / "site-a.md").read_text()
    assert "hosted-engine-node-host2" in report and (tmp_path / "site-a.html").is_file()
    outputs = json.loads(
        subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", "site-b"],
            cwd=sites.work_dir,
            env={**os.environ, **sites.env},
            capture_output=True,
            text=True,
        ).stdout
        or "{}"
    )
    assert outputs == {}  # site-b was never touched
