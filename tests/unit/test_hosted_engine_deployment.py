"""HostedEngineDeployment: the deploy's plan over the unit and the host (tests/unit/cases/hosted_engine_deployment/),
the checks and the diff. The answer file is in test_hosted_engine_answers.py."""

import pytest

from providers.errors import StepError
from providers.hosted_engine_deployment import (
    HostedEngineDeploymentProvider,
    _clean,
    _watch,
    plan,
    previous_attempt,
    scanned_keys,
)
from tests.harness import ScriptedHost, cases


@pytest.mark.parametrize("case", cases("hosted_engine_deployment"))
def test_the_deploy_is_started_once_and_a_killed_runs_deploy_is_followed(case):
    assert plan(case["unit"], case["deployed"], case.get("failed", False), case.get("retry", False)) == case["steps"]


@pytest.mark.parametrize(
    "kind, failing",
    [("nfs", []), ("iscsi", []), ("fc", []), ("glusterfs", []), ("ceph", ["storage"]), (None, ["storage"])],
)
def test_check_accepts_the_deploys_storage_types(kind, failing):
    found = HostedEngineDeploymentProvider().check({}, {"storage": {"type": kind}})
    assert [f.property for f in found.failures] == failing


OLD = {
    "fqdn": "engine.example.com",
    "storage": {"type": "nfs", "connection": "s:/he", "diskSizeGB": 51},
    "deployHost": {"name": "deploy", "address": "192.0.2.30"},
    "smtp": {"server": "localhost"},
}


@pytest.mark.parametrize(
    "change, replaces",
    [
        ({}, []),
        ({"storage": {"diskSizeGB": 51, "connection": "s:/he", "type": "nfs"}}, []),  # the same, keys reordered
        ({"smtp": {"server": "mail.example.com"}}, []),  # the deploy's answers are not re-asked
        ({"storage": {**OLD["storage"], "connection": "s:/he2"}}, ["storage"]),
        ({"fqdn": "engine2.example.com", "deployHost": {"name": "deploy2"}}, ["fqdn", "deployHost"]),
    ],
)
def test_diff_replaces_the_deployment_only_for_its_engine_storage_or_host(change, replaces):
    found = HostedEngineDeploymentProvider().diff("id", OLD, {**OLD, **change})
    assert (found.changes, found.replaces, found.delete_before_replace) == (bool(replaces), replaces, True)


def test_the_engine_vms_key_is_read_from_ssh_keyscan():
    printed = "# engine.lab.example:22 SSH-2.0-OpenSSH_8.7\nengine.lab.example ssh-ed25519 AAAAC3Nza\n"
    assert scanned_keys(printed) == ["ssh-ed25519 AAAAC3Nza"]
    assert scanned_keys("# engine.lab.example:22 SSH-2.0-OpenSSH_8.7\n") == []


PAUSE = "[ INFO  ] You can now connect to the bootstrap engine VM. Pause execution until /tmp/ansible.x_he_setup_lock is removed"


@pytest.mark.parametrize("lock_there, refused", [(0, True), (1, False)])
def test_a_paused_deploy_is_reported_while_its_lock_is_there(lock_there, refused):
    deploy = ScriptedHost("deploy", {"test -e /tmp/ansible.x_he_setup_lock": (lock_there, "")})
    watch = _watch({"deployTimeout": 3600}, deploy)
    seen = ["[ ERROR ] fatal: [localhost]: FAILED! => the restore failed", PAUSE]
    if refused:
        with pytest.raises(StepError) as paused:
            watch(seen)
        text = str(paused.value)
        assert text.startswith(
            "deploy: `hosted-engine --deploy` paused after a failed step and waits up to 24 hours:\n"
        )
        assert "the restore failed" in text and "remove /tmp/ansible.x_he_setup_lock on deploy" in text
    else:
        watch(seen)  # the administrator removed the lock: the deploy goes on
    assert deploy.ran == ["test -e /tmp/ansible.x_he_setup_lock"]


def test_output_without_a_pause_reads_nothing_on_the_host():
    deploy = ScriptedHost("deploy", {})
    watch = _watch({"deployTimeout": 3600}, deploy)
    watch(["[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Wait for the host to be up]"])
    watch(["[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Wait for the host to be up]", "[ INFO  ] ok"])
    assert deploy.ran == []


def test_a_deploy_past_its_timeout_is_reported_and_left_running():
    watch = _watch({"deployTimeout": -1}, ScriptedHost("deploy", {}))
    with pytest.raises(StepError, match=r"^deploy: `hosted-engine --deploy` still runs after -1s"):
        watch(["[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Wait for the host to be up]"])


RETRIED = {"backupDirectory": "/root/backup", "backupFile": "/backup/engine.backup"}
CLEAN_HOST = {
    "virsh -r domstate HostedEngine": (1, ""),
    "ovirt-hosted-engine-cleanup -q": (0, ""),
    "virsh -r domstate HostedEngineLocal": (1, ""),
    "test -e /etc/ovirt-hosted-engine/hosted-engine.conf": (1, ""),
    "systemctl is-active --quiet ovirt-ha-agent": (3, ""),
    "systemctl is-active --quiet vdsmd": (3, ""),
    "rm -f -- /root/backup/engine.backup.deploy-failed": (0, ""),
}


def test_a_retry_cleans_the_host_checks_it_and_forgets_the_failure():
    deploy = ScriptedHost("deploy", CLEAN_HOST)
    _clean(RETRIED, deploy)
    assert deploy.ran == list(CLEAN_HOST)


def test_a_retry_never_cleans_under_a_running_engine_vm():
    deploy = ScriptedHost("deploy", {**CLEAN_HOST, "virsh -r domstate HostedEngine": (0, "running\n\n")})
    with pytest.raises(StepError) as refused:
        _clean(RETRIED, deploy)
    assert "runs an Engine VM (HostedEngine): ovirt-hosted-engine-cleanup would power it off" in str(refused.value)
    assert deploy.ran == ["virsh -r domstate HostedEngine"]


def test_a_host_the_cleanup_left_unclean_is_not_deployed():
    deploy = ScriptedHost("deploy", {**CLEAN_HOST, "systemctl is-active --quiet vdsmd": (0, "")})
    with pytest.raises(StepError) as refused:
        _clean(RETRIED, deploy)
    assert "is not clean after `ovirt-hosted-engine-cleanup -q`: vdsmd still there" in str(refused.value)
    assert "rm -f -- /root/backup/engine.backup.deploy-failed" not in deploy.ran, "the failure stays recorded"


RUNNING = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running"}
GONE = {"LoadState": "not-found"}


@pytest.mark.parametrize(
    "unit, record, vm_runs, found",
    [
        (GONE, {"how": "exit status 1"}, True, {"how": "exit status 1"}),  # the record says how it ended
        (GONE, {}, True, {"how": "its bootstrap VM HostedEngineLocal still runs"}),  # an attempt this tool did not run
        (GONE, {}, False, {}),
        (RUNNING, {"how": "exit status 1"}, True, {}),  # a deploy in progress (paused, say) is followed, not refused
    ],
)
def test_a_previous_attempt_is_a_record_or_a_bootstrap_vm_outside_a_running_deploy(unit, record, vm_runs, found):
    assert previous_attempt(unit, record, vm_runs) == found
