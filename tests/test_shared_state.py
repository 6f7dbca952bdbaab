"""A team's shared state in PostgreSQL: the CLI's DIY backend for postgres:// URLs keeps two sites' stacks, their
secrets sealed, and a second `up` of a stack from another working copy is refused by the lock.

The server is the Debian package's, started here on loopback for the module (its own data directory, trust
authentication on 127.0.0.1 only) and stopped afterwards.
"""

import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.testing import LabProcess, reserved_port
from tests.harness import ProjectStack, fault_took_effect, lab_config, migration_settings, pinned_ports_site

ADMIN_PASSWORD = "lab-admin-password"
ROOT_PASSWORD = "shared-engine-vm-Pa55"


def _as_postgres(argv):
    """PostgreSQL's programs refuse to run as root: run them as the package's `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="module")
def backend_url():
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert binaries, "PostgreSQL's server is not installed: scripts/setup.sh installs the Debian package `postgresql`"
    # outside pytest's root-only tmp tree, which the postgres user cannot enter
    bin_dir, data = binaries[-1], Path(tempfile.mkdtemp(prefix="ovirt-she-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        _as_postgres([f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "pulumi"]),
        check=True,
        capture_output=True,
    )
    port = reserved_port()
    server = subprocess.Popen(
        _as_postgres(
            [
                f"{bin_dir}/postgres",
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while (
            subprocess.run(
                [f"{bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            != 0
        ):
            assert time.monotonic() < deadline and server.poll() is None, "PostgreSQL did not start"
            time.sleep(0.2)
        subprocess.run(
            [f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "pulumi", "pulumi"], check=True
        )
        yield f"postgres://pulumi@127.0.0.1:{port}/pulumi?sslmode=disable", bin_dir, port
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def psql(backend, sql):
    _, bin_dir, port = backend
    return subprocess.run(
        [f"{bin_dir}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "pulumi", "-d", "pulumi", "-At", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="module")
def site_labs(tmp_path_factory, client_key):
    labs = []
    for name in ("a", "b"):
        site, ports = pinned_ports_site(tmp_path_factory.mktemp(f"site-{name}") / "site.yaml")
        lab = LabProcess(
            tmp_path_factory.mktemp(f"lab-{name}"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
        )
        lab.start()
        lab.ports = ports
        labs.append(lab)
    yield labs
    for lab in labs:
        lab.stop()


def site_stack(tmp_path_factory, backend, name, lab, client_key, full):
    stack = ProjectStack(tmp_path_factory.mktemp(f"project-{name}"), f"site-{name}", backend_url=backend[0])
    settings = (
        migration_settings(lab, lab.ports)
        if full
        else {
            **lab_config(lab),
            "storageExports": [
                {"host": "storage", "path": "/exports/data", "clients": "*", "options": "rw,sync,no_subtree_check"}
            ],
        }
    )
    stack.configure(
        settings,
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": ROOT_PASSWORD,
        },
    )
    return stack


def test_two_sites_share_one_postgresql_backend_and_its_lock(tmp_path_factory, backend_url, site_labs, client_key):
    lab_a, lab_b = site_labs
    site_a = site_stack(tmp_path_factory, backend_url, "a", lab_a, client_key, full=True)
    site_b = site_stack(tmp_path_factory, backend_url, "b", lab_b, client_key, full=False)
    colleague = ProjectStack(tmp_path_factory.mktemp("colleague"), "site-a", backend_url=backend_url[0])  # same stack
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(site_a.up)
        deadline = time.monotonic() + 60
        while not any(c["command"].startswith("engine-backup") for c in lab_a.started()):
            assert time.monotonic() < deadline, "site-a's up never reached the backup"
            time.sleep(0.2)
        before = len(lab_a.commands())
        with pytest.raises(auto.errors.CommandError) as second:
            colleague.up()
        assert "locked" in str(second.value), str(second.value)
        changed_by_second = [c for c in lab_a.commands()[before:] if c["command"].startswith(("useradd", "chown"))]
        assert changed_by_second == []
        assert first.result().summary.result == "succeeded"
    assert site_b.up().summary.result == "succeeded"

    listed = {summary.name.rsplit("/", 1)[-1] for summary in colleague.stack.workspace.list_stacks()}
    assert {"site-a", "site-b"} <= listed, listed
    assert {k: v.value for k, v in site_a.stack.outputs().items()}["nodeScores"] == {"host1": 3400, "host2": 3400}
    stored = psql(backend_url, "select count(*) from pulumi_state")
    assert int(stored) > 0
    dump = psql(backend_url, "select key || ' ' || data::text from pulumi_state")
    assert "site-a" in dump and "site-b" in dump
    for secret in (ADMIN_PASSWORD, ROOT_PASSWORD, client_key[0].read_text().splitlines()[1]):
        assert secret not in dump


def test_a_run_killed_on_the_postgresql_backend_leaves_a_readable_stack_that_resumes(
    tmp_path_factory, backend_url, site_labs, client_key
):
    """Each checkpoint is one row written in one transaction: after a SIGKILL the state reads back whole, and the
    runbook's recovery (cancel, refresh --clear-pending-creates) and `up` finish the job."""
    lab = site_labs[1]
    stack = ProjectStack(tmp_path_factory.mktemp("project-c"), "site-c", backend_url=backend_url[0])
    stack.configure(
        {
            **lab_config(lab),
            "storageExports": [
                {"host": "storage", "path": "/exports/iso", "clients": "*", "options": "rw,sync,no_subtree_check"}
            ],
        },
        {"sshPrivateKey": client_key[0].read_text()},
    )
    lab.inject_fault("slow", host="storage", match="^chown", seconds=4, times=1)
    stack.up_killed_when(fault_took_effect(lab, "storage", "chown"))
    deployment = json.loads(stack.export())["deployment"]  # it reads back whole, with what the dead run began
    assert any(r["type"] == "pulumi:pulumi:Stack" for r in deployment["resources"]), deployment
    for line in (["cancel", "--yes"], ["refresh", "--clear-pending-creates", "--yes", "--skip-preview"]):
        done = stack.run_cli(*line)
        assert done.returncode == 0, done.stdout + done.stderr
    assert stack.up().summary.result == "succeeded"
    lab.clear_faults()
