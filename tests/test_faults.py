"""Transient and lasting faults through the real Pulumi engine, injected into a lab (lab/faults.py).

SSH faults: each test has its own small stack (one StorageExport and/or one MultipathOverride on
paths no other test uses) against the module's lab. Engine API faults: the whole migration on a
fresh site whose new Engine API answers 503 twice and then hangs past the SDK's timeout.
"""

import json
import time

import pytest
from pulumi import automation as auto

from lab.testing import LabProcess, reserved_port
from tests.harness import ProjectStack, lab_config, migration_settings, pinned_ports_site

ADMIN_PASSWORD = "lab-admin-password"  # the original Engine's, restored from the backup
ROOT_PASSWORD = "engine-vm-root-Pa55"


MULTIPATH = {"devices": [{"vendor": "LIO-ORG", "product": ".*", "path_checker": "tur"}]}
FAST_RETRIES = {"OVIRT_SHE_SSH_FIRST_DELAY": "0.2"}


@pytest.fixture(autouse=True)
def no_faults_left(lab):
    yield
    lab.clear_faults()


def small_stack(tmp_path, lab, client_key, name, exports=(), overrides=()):
    stack = ProjectStack(tmp_path / "project")
    stack.env.update(FAST_RETRIES)
    stack.stack.workspace.env_vars.update(FAST_RETRIES)
    settings = {
        **lab_config(lab),
        "storageExports": [
            {"host": "storage", "path": f"/exports/{name}-{i}", "clients": "*", "options": "rw,sync,no_subtree_check"}
            for i in range(exports)
        ]
        if exports
        else [],
        "multipathOverrides": [
            {"host": "host1", "file": f"80-{name}-{i}.conf", "settings": MULTIPATH} for i in range(overrides)
        ]
        if overrides
        else [],
    }
    stack.configure(settings, {"sshPrivateKey": client_key[0].read_text()})
    return stack


def resource_types(stack):
    state = json.loads(stack.export())
    return [r["type"] for r in state["deployment"].get("resources", [])]


def fault_kinds(lab, host, since):
    return [f["fault"] for f in lab.faults(host) if f["time"] >= since]


def test_refused_twice_then_up_succeeds(tmp_path, lab, client_key):
    stack = small_stack(tmp_path, lab, client_key, "refused", exports=1)
    since = time.time()
    lab.inject_fault("refuse", host="storage", times=2)
    assert stack.up().summary.result == "succeeded"
    assert fault_kinds(lab, "storage", since) == ["refuse", "refuse"]
    assert any(t.endswith("StorageExport") for t in resource_types(stack)), resource_types(stack)


def test_a_read_that_fails_or_drops_once_is_retried(tmp_path, lab, client_key):
    stack = small_stack(tmp_path, lab, client_key, "flaky", exports=1)
    since = time.time()
    lab.inject_fault("command", host="storage", match="^stat ", status=255, stderr="Connection reset by peer\n")
    lab.inject_fault("drop", host="storage", match="^exportfs -v$", after_bytes=0)
    assert stack.up().summary.result == "succeeded"
    assert sorted(fault_kinds(lab, "storage", since)) == ["command", "drop"]
    after = [c for c in lab.commands("storage") if c["time"] >= since]
    stats = [c["kind"] for c in after if c["command"].startswith("stat ")]
    assert stats[0] == "fault" and "exec" in stats[1:]  # the same read, again, on the same or a new connection


def test_a_command_that_always_fails_names_the_host_the_command_and_what_to_do(tmp_path, lab, client_key):
    stack = small_stack(tmp_path, lab, client_key, "broken", overrides=1)
    lab.inject_fault(
        "command",
        host="host1",
        match="^systemctl reload multipathd$",
        status=1,
        stderr="Job for multipathd.service failed.\n",
        times="always",
    )
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    assert (
        "host1" in message
        and "systemctl reload multipathd" in message
        and "Job for multipathd.service failed" in message
    )
    assert "run `pulumi up` again" in message
    assert not any(t.endswith("MultipathOverride") for t in resource_types(stack))
    assert len([f for f in lab.faults("host1") if f["fault"] == "command"]) == 1  # a change is never re-run


def test_a_change_cut_by_a_dropped_connection_is_not_re_run_and_the_next_up_finishes(tmp_path, lab, client_key):
    stack = small_stack(tmp_path, lab, client_key, "cut", overrides=1)
    lab.inject_fault("drop", host="host1", match="^systemctl reload multipathd$", after_bytes=0)
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    assert "dropped while `systemctl reload multipathd` ran" in str(failed.value)
    assert "not run again" in str(failed.value)
    assert stack.up().summary.result == "succeeded"


def test_a_slow_host_still_succeeds(tmp_path, lab, client_key):
    stack = small_stack(tmp_path, lab, client_key, "slow", exports=1, overrides=1)
    since = time.time()
    lab.inject_fault("slow", host="storage", seconds=0.3)
    lab.inject_fault("slow", host="host1", seconds=0.3)
    assert stack.up().summary.result == "succeeded"
    assert "slow" in fault_kinds(lab, "storage", since) and "slow" in fault_kinds(lab, "host1", since)


def test_a_changed_host_key_is_refused_with_its_fingerprint_and_nothing_changes(tmp_path, lab, client_key):
    stack = small_stack(tmp_path, lab, client_key, "rekeyed", exports=1)
    lab.inject_fault("host-key", host="storage")
    since = time.time()
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    assert "now offers the host key SHA256:" in message and "not the trusted SHA256:" in message
    assert [c for c in lab.commands("storage") if c["time"] >= since and c["kind"] != "fault"] == []
    assert not any(t.endswith("StorageExport") for t in resource_types(stack))


# --- the Engine API --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_lab(tmp_path_factory, client_key):
    site, ports = pinned_ports_site(tmp_path_factory.mktemp("site") / "site.yaml")
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        lab.ports = ports
        yield lab


def test_the_migration_succeeds_through_engine_api_503s_and_a_hang(tmp_path, api_lab, client_key):
    stack = ProjectStack(tmp_path / "project", "site")
    env = {"OVIRT_SHE_ENGINE_API_TIMEOUT": "2", **FAST_RETRIES}
    stack.env.update(env)
    stack.stack.workspace.env_vars.update(env)
    settings = migration_settings(api_lab, api_lab.ports)
    stack.configure(
        settings,
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": ROOT_PASSWORD,
        },
    )
    # Taken by the new API's first requests once hosted-engine --deploy has started it.
    api_lab.inject_fault("engine-api", api="new", status=503, times=2)
    api_lab.inject_fault("engine-api", api="new", hang=4)
    result = stack.up()
    assert result.summary.result == "succeeded"
    assert result.outputs["nodeScores"].value == {"host1": 3400, "host2": 3400}
    injected = api_lab.faults("engine-api-new")
    assert [f["status"] for f in injected] == [503, 503, None] and "hang 4" in injected[-1]["command"]


def test_a_changed_host_key_is_never_retried_and_an_unreachable_host_says_what_to_check(lab, client_key):
    from providers.retry import RetryPolicy
    from providers.ssh import Connection, Host, HostKeyError, HostUnreachable

    lab.inject_fault("host-key", host="host2")
    trusted = Host("host2", "127.0.0.1", lab.port("host2"), "root", lab.known_hosts.read_text())
    started = time.monotonic()
    with pytest.raises(HostKeyError, match="now offers the host key SHA256:"):
        Connection(trusted, client_key[0].read_text(), retry=RetryPolicy(first_delay=1.0))
    assert time.monotonic() - started < 1.0  # refused at the first answer, no pause, no second try
    closed = Host("host9", "127.0.0.1", reserved_port(), "root", "")
    with pytest.raises(HostUnreachable) as unreachable:
        Connection(closed, client_key[0].read_text(), retry=RetryPolicy(attempts=3, first_delay=0.1))
    assert f"host9: no SSH connection to 127.0.0.1:{closed.port} after 3 attempts" in str(unreachable.value)
    assert "Check that the host is up and its sshd listens" in str(unreachable.value)
