"""Contract tests of the lab's fault injection (lab/faults.py) with the real paramiko and ovirtsdk4."""

import socket
import subprocess
import sys
import time

import ovirtsdk4
import paramiko
import pytest

from lab.testing import REPO_ROOT, LabProcess, site_variant
from tests.harness import remote

SITE_FAULT = {
    "kind": "command",
    "host": "storage",
    "match": "^getent group site-fault$",
    "status": 7,
    "stderr": "injected from the site file\n",
    "times": "always",
}


@pytest.fixture(scope="module")
def flab(tmp_path_factory, client_key):
    def modify(data):
        data["faults"] = [SITE_FAULT]
        data.setdefault("ovirt", {})["backup_seconds"] = 1.0

    site = site_variant(tmp_path_factory.mktemp("site") / "site.yaml", modify)
    with LabProcess(
        tmp_path_factory.mktemp("flab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        yield lab


def raw_exec(lab, host, command):
    """Exec without expecting a clean end: (stdout bytes, exit status or None, transport alive)."""
    client = lab.ssh(host)
    try:
        chan = client.get_transport().open_session(timeout=10)
        chan.settimeout(10)
        chan.exec_command(command)
        chan.shutdown_write()
        out = chan.makefile("rb").read()
        status = chan.recv_exit_status()
        time.sleep(0.2)
        return out, (None if status == -1 else status), client.get_transport().is_active()
    finally:
        client.close()


def test_a_site_file_fault_fails_its_command_every_time_and_is_recorded(flab):
    for _ in range(2):
        assert remote(flab, "storage", "getent group site-fault") == (7, "", "injected from the site file\n")
    recorded = [f for f in flab.faults("storage") if f["fault"] == "command"]
    assert len(recorded) >= 2 and recorded[-1]["command"] == "getent group site-fault" and recorded[-1]["status"] == 7
    assert remote(flab, "backup", "getent group site-fault")[0] == 2  # another host: the real command


def test_a_command_fails_n_times_then_runs(flab):
    flab.inject_fault(
        "command",
        host="storage",
        match=r"^stat -c %a /exports/data$",
        status=255,
        stderr="ssh: connect to host: Connection reset\n",
        times=2,
    )
    assert [remote(flab, "storage", "stat -c %a /exports/data")[0] for _ in range(3)] == [255, 255, 0]
    assert remote(flab, "storage", "stat -c %a /exports/data")[1] == "755\n"
    entries = [e for e in flab.commands("storage") if e["command"] == "stat -c %a /exports/data"]
    assert [e["kind"] for e in entries][:3] == ["fault", "fault", "exec"]


def test_connections_are_reset_n_times(flab):
    flab.inject_fault("refuse", host="backup", times=2)
    for _ in range(2):
        with pytest.raises((paramiko.SSHException, OSError, EOFError)):
            flab.ssh("backup")
    assert remote(flab, "backup", "true")[0] == 0
    assert len([f for f in flab.faults("backup") if f["fault"] == "refuse"]) == 2


def test_the_listener_refuses_for_some_seconds(flab):
    flab.inject_fault("refuse", host="host2", seconds=1.0)
    with pytest.raises(OSError):  # paramiko's NoValidConnectionsError: ECONNREFUSED
        socket.create_connection(("127.0.0.1", flab.port("host2")), timeout=2).close()
    time.sleep(1.5)
    assert remote(flab, "host2", "true")[0] == 0


def test_a_connection_drops_after_some_bytes_once_the_command_ran(flab):
    flab.inject_fault("drop", host="storage", match="^echo dropped-out", after_bytes=4)
    out, status, alive = raw_exec(flab, "storage", "echo dropped-output; mkdir -p /tmp/ran-before-drop")
    assert (out, status, alive) == (b"drop", None, False)
    assert remote(flab, "storage", "stat -c %F /tmp/ran-before-drop")[1] == "directory\n"
    assert remote(flab, "storage", "echo dropped-output")[1] == "dropped-output\n"  # once only
    assert [f["fault"] for f in flab.faults("storage")][-1] == "drop"


def test_a_connection_drops_after_some_seconds(flab):
    flab.inject_fault("drop", host="storage", match="^hostname$", after_seconds=0.8)
    started = time.monotonic()
    out, status, alive = raw_exec(flab, "storage", "hostname")
    assert status is None and not alive and time.monotonic() - started >= 0.8


def test_a_slow_host_delays_each_command(flab):
    flab.inject_fault("slow", host="host1", seconds=0.5, times=2)
    timings = []
    for _ in range(3):
        started = time.monotonic()
        assert remote(flab, "host1", "true")[0] == 0
        timings.append(time.monotonic() - started)
    assert timings[0] >= 0.5 and timings[1] >= 0.5 and timings[2] < 0.5


def test_engine_backup_takes_the_sites_backup_seconds(flab):
    started = time.monotonic()
    remote(flab, "engine", "engine-backup --mode=backup --file=/tmp/x.backup --log=/tmp/x.log", timeout=30)
    assert time.monotonic() - started >= 1.0


def test_the_engine_api_answers_503_then_works(flab):
    flab.inject_fault("engine-api", status=503, times=1)
    connection = flab.engine_connection()
    try:
        with pytest.raises(ovirtsdk4.Error):
            connection.system_service().hosts_service().list()
        assert {h.name for h in connection.system_service().hosts_service().list()} == {"host1", "host2"}
    finally:
        connection.close()
    assert [f["status"] for f in flab.faults("engine-api")][-1] == 503


def test_the_engine_api_hangs_past_the_sdk_timeout(flab):
    flab.inject_fault("engine-api", hang=3, times=1)
    connection = flab.engine_connection(timeout=1)
    try:
        with pytest.raises(ovirtsdk4.Error, match="timed out"):
            connection.system_service().get()
    finally:
        connection.close(logout=False)
    connection = flab.engine_connection()
    try:
        assert connection.system_service().get().product_info.name == "oVirt Engine"
    finally:
        connection.close()


def test_a_changed_host_key_is_refused_until_cleared(flab):
    flab.inject_fault("host-key", host="host1")
    with pytest.raises(paramiko.BadHostKeyException):
        flab.ssh("host1")
    assert flab.faults("host1")[-1]["fault"] == "host-key"
    flab.clear_faults()
    assert remote(flab, "host1", "true")[0] == 0
    assert remote(flab, "storage", "getent group site-fault")[0] == 2  # clear drops the site's rules too


def test_the_cli_injects_and_lists_faults(flab):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO_ROOT, capture_output=True, text=True)

    done = cli(
        "fault",
        "--state",
        str(flab.state_dir),
        "command",
        "--host",
        "backup",
        "--match",
        "^id nobody$",
        "--status",
        "3",
        "--stderr",
        "cli fault",
    )
    assert done.returncode == 0 and "active" in done.stdout, done.stderr
    assert remote(flab, "backup", "id nobody") == (3, "", "cli fault")
    listed = cli("fault", "--state", str(flab.state_dir), "list").stdout
    assert "backup command: id nobody" in listed
    bad = cli("fault", "--state", str(flab.state_dir), "drop", "--host", "backup")
    assert bad.returncode == 2 and "after_bytes" in bad.stderr


def test_a_restart_forgets_taken_rules_and_applies_rules_added_while_stopped(flab):
    from lab import faults

    flab.inject_fault("command", host="backup", match="^id daemon$", status=4, times="always")
    assert remote(flab, "backup", "id daemon")[0] == 4
    flab.stop()
    faults.add_rule(flab.state_dir, {"kind": "command", "host": "backup", "match": "^id bin$", "status": 5})
    flab.start()
    assert remote(flab, "backup", "id daemon")[0] == 0
    assert remote(flab, "backup", "id bin")[0] == 5
    assert remote(flab, "storage", "getent group site-fault")[0] == 7  # the site's own rules apply at every start


def test_critical_path_adds_the_sites_long_steps(tmp_path):
    def modify(data):
        data.setdefault("ovirt", {}).update(
            backup_seconds=30,
            deploy_seconds=600,
            engine_delays={"migration": 20, "install": 300, "reboot": 60, "initializing": 10},
        )

    site = site_variant(tmp_path / "site.yaml", modify)
    done = subprocess.run(
        [sys.executable, "-m", "lab", "critical-path", "--site", str(site)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[-1].split() == ["1410.0", "total"]  # 30 + 600 + 2 * (20 + 300 + 60 + 10)
    assert "host1: install" in done.stdout and "engine-backup" in lines[0]
