"""An interrupted migration is safe to run again: `pulumi up` is SIGKILLed in every step, resumed
the way the README says, and the site converges to the same end state as an uninterrupted run.

One lab and one stack: each `up` is killed while the next step runs, then the README's recovery
(`pulumi cancel`, `pulumi refresh --clear-pending-creates`) clears the dead run, and the next `up`
starts where the last one stopped.
"""

import hashlib
import json
import time
from datetime import datetime

import ovirtsdk4.types as types
import pytest

from lab.testing import run
from tests.harness import ProjectStack, block, fault_took_effect, migration_settings, wait_until

ADMIN_PASSWORD = "lab-admin-password"


@pytest.fixture(scope="module")
def site(tmp_path_factory, migration_lab, client_key):
    stack = ProjectStack(tmp_path_factory.mktemp("project"), "site")
    stack.settings = migration_settings(migration_lab, migration_lab.ports)
    stack.secrets = {
        "sshPrivateKey": client_key[0].read_text(),
        "adminPassword": ADMIN_PASSWORD,
        "engineRootPassword": "root-Pa55",
    }
    stack.configure(stack.settings, stack.secrets)
    return migration_lab, stack


def recover(stack):
    """The README's recovery after a killed run: runbook step 9 but its last line, the `up` each test runs."""
    assert block(9)[-1].split("#")[0].split() == ["pulumi", "up", "--stack", "site-a", "--yes"], block(9)
    for line, done in stack.run_runbook(9, slice(0, -1)):
        assert done.returncode == 0, (line, done.stdout + done.stderr)


def in_flight(lab, host, prefix):
    """A command line that started and has not ended yet (the lab records both)."""

    def check(_output):
        started = sum(c["command"].startswith(prefix) for c in lab.started(host))
        ended = sum(c["command"].startswith(prefix) for c in lab.commands(host) if c["kind"] in ("exec", "unit"))
        return started > ended

    return check


def slowed_inside(lab, host, prefix, seconds=4):
    """The lab holds the command (a unit's own command too) once it started, so the kill lands inside it."""
    lab.inject_fault("slow", host=host, match=f"^{prefix}", seconds=seconds, times=1)
    return in_flight(lab, host, prefix)


def copy_in_flight(lab, host, target):
    """A copy written into its `.part` file but not closed, let alone renamed into place."""
    lab.inject_fault("slow", host=host, match=f"^write {target}\\.part$", seconds=4, times=1)
    return fault_took_effect(lab, host, f"write {target}.part")


def api_host_status(lab, name, statuses):
    def check(_output):
        lab.refresh()
        if not lab.engine_api_new:
            return False
        api = lab.engine_connection(new=True, password=ADMIN_PASSWORD)
        try:
            hosts = api.system_service().hosts_service().list(search=f"name={name}")
            return bool(hosts) and hosts[0].status.value in statuses
        finally:
            api.close()

    return check


def api_host_out_of_service(lab, name):
    return api_host_status(
        lab, name, {"preparing_for_maintenance", "maintenance", "installing", "reboot", "initializing"}
    )


def preparation_in_flight(lab):
    """Both kinds of preparation creates at once: the lab slows an export's chown and a drop-in's reload."""
    lab.inject_fault("slow", host="storage", match="^chown", seconds=4, times=1)
    lab.inject_fault("slow", host="host1", match="^systemctl reload multipathd", seconds=4, times=1)
    return lambda output: (
        fault_took_effect(lab, "storage", "chown")(output)
        and fault_took_effect(lab, "host1", "systemctl reload multipathd")(output)
    )


BACKUP_FILE = "engine-lab.backup"
# Every long step, killed inside: each long command on the original Engine, each copy of the backup, the
# deploy, each host's install, and the HA drill.
STEPS = [
    ("StorageExport and MultipathOverride", preparation_in_flight),
    ("the Engine update", lambda lab: slowed_inside(lab, "engine", "yum update")),
    ("engine-setup", lambda lab: slowed_inside(lab, "engine", "engine-setup")),
    ("engine-backup", lambda lab: slowed_inside(lab, "engine", "engine-backup --mode=backup")),
    ("the copy to the backup server", lambda lab: copy_in_flight(lab, "backup", f"/backup/{BACKUP_FILE}")),
    ("the copy to the deployment host", lambda lab: copy_in_flight(lab, "deploy", f"/root/backup/{BACKUP_FILE}")),
    ("hosted-engine --deploy", lambda lab: in_flight(lab, "deploy", "hosted-engine --deploy")),
    ("the install of host1", lambda lab: api_host_status(lab, "host1", {"installing"})),
    ("the install of host2", lambda lab: api_host_status(lab, "host2", {"installing"})),
    # the drill's first vm-status read comes once the Engine VM's host was sent to maintenance
    ("the HA drill", lambda lab: slowed_inside(lab, "deploy", "hosted-engine --vm-status")),
]


@pytest.mark.parametrize("step", [s[0] for s in STEPS])
def test_a_killed_step_resumes(site, step):
    """Killed while the step is under way (the predicate says so at the kill), then recovered: the dead
    run's lock and pending operations are gone."""
    lab, stack = site
    in_progress = dict(STEPS)[step](lab)
    stack.up_killed_when(in_progress)  # fails unless the kill landed while the step was under way
    assert stack.locks, "the killed run left no lock: it was not inside an update"
    left = stack.run_cli("stack", "export")
    if left.returncode == 0:
        assert json.loads(left.stdout)["deployment"].get("pending_operations"), "the kill left no operation to resume"
    else:  # the kill tore the checkpoint, which step 9's first line repairs (README, "Interruption and resume")
        assert "failed to load checkpoint" in left.stderr, left.stderr
    recover(stack)
    assert not stack.locks
    assert not json.loads(stack.export())["deployment"].get("pending_operations")
    lab.clear_faults()


def test_the_resumed_migration_converges_to_the_uninterrupted_end_state(site):
    """After the kills above (this module is one migration, killed step by step, in order)."""
    lab, stack = site
    assert len(stack.kills) == len(STEPS), f"{len(stack.kills)} of the {len(STEPS)} steps were killed"
    result = stack.up()
    assert result.summary.result == "succeeded"
    outputs = {k: v.value for k, v in result.outputs.items()}
    assert outputs["nodeScores"] == {"host1": 3400, "host2": 3400}
    stop = next(c["time"] for c in lab.started("engine") if c["command"] == "systemctl stop ovirt-engine")
    opened = datetime.fromisoformat(outputs["outageWindow"]["measured"]["openedAt"]).timestamp()
    assert 0 <= stop - opened < 1, "the outage window opens when the first, killed run stopped ovirt-engine"
    started = [c["command"] for c in lab.started()]
    for step in (
        "yum update -y",
        "engine-setup --accept-defaults",
        "engine-backup --mode=backup",
        "hosted-engine --deploy",
    ):
        times = sum(c.startswith(step) for c in started)
        assert times == 1, f"`{step}` started {times} times"
    taken = lab.disk_file("engine", f"/var/lib/ovirt-engine-backup/{BACKUP_FILE}")  # the machine is off now
    assert hashlib.sha256(taken).hexdigest() == outputs["backup"]["sha256"], "the original's backup is the one taken"
    for host, path in (
        ("backup", f"/backup/{BACKUP_FILE}"),
        ("deploy", f"/root/backup/{BACKUP_FILE}"),
    ):
        status, listing, _ = run(lab.ssh(host), f"sha256sum {path}")
        assert status == 0 and listing.split()[0] == outputs["backup"]["sha256"], f"{host}:{path} is the backup taken"
    api = lab.engine_connection(new=True, password=ADMIN_PASSWORD)
    names = {h.id: h.name for h in api.system_service().hosts_service().list()}
    status_by_host = {}
    for event in sorted(api.system_service().events_service().list(), key=lambda e: int(e.id)):
        status_by_host[names[event.host.id]] = event.description
        busy = [n for n, d in status_by_host.items() if "Maintenance" in d or "Installing" in d]
        assert len(busy) <= 1, f"two hosts out of service at once: {busy}"
    drill = outputs["haDrill"]  # the resumed drill moved the VM again, from wherever it was
    vm = api.system_service().vms_service().list(search="name=HostedEngine")[0]
    assert drill["fromNode"] != drill["toNode"] == names[vm.host.id], drill
    assert all(h.status.value == "up" for h in api.system_service().hosts_service().list())
    assert stack.up().summary.resource_changes.get("create", 0) == 0
    assert (
        "pending_operations" not in json.loads(stack.export())["deployment"]
        or not json.loads(stack.export())["deployment"]["pending_operations"]
    )


@pytest.mark.parametrize("what", ["MultipathOverride update", "StorageExport update"])
def test_a_killed_update_resumes_and_converges(site, what):
    lab, stack = site
    if what == "MultipathOverride update":
        stack.settings["multipathOverrides"][0]["settings"]["devices"][0]["path_checker"] = "directio"
        stack.configure(stack.settings, stack.secrets)
        host, slowed, check = "host1", "systemctl reload multipathd", ("host1", "multipathd show config", "directio")
    else:
        assert run(lab.ssh("storage"), "chmod 0700 /exports/data")[0] == 0
        stack.stack.refresh()
        host, slowed, check = "storage", "chmod", ("storage", "stat -c %a /exports/data", "755")
    lab.inject_fault("slow", host=host, match=f"^{slowed}", seconds=4, times=1)
    stack.up_killed_when(fault_took_effect(lab, host, slowed))
    recover(stack)
    result = stack.up()
    assert result.summary.result == "succeeded"
    time.sleep(4)  # let the killed run's last command, already sent, finish on the host
    status, out, _ = run(lab.ssh(check[0]), check[1])
    assert status == 0 and check[2] in out
    assert set(stack.up().summary.resource_changes) <= {"same", "read"}  # a read is the preflight


def test_a_killed_node_update_resumes_and_converges(site):
    """host1 undeployed behind the stack's back: refresh shows it, and the re-conversion is killed midway."""
    lab, stack = site
    api = lab.engine_connection(new=True, password=ADMIN_PASSWORD)
    hosts = api.system_service().hosts_service()
    host1 = hosts.list(search="name=host1")[0]
    service = hosts.host_service(host1.id)
    service.deactivate()
    wait_until(lambda: service.get().status.value == "maintenance", timeout=60)
    service.install(
        ssh=types.Ssh(authentication_method=types.SshAuthenticationMethod.PUBLICKEY),
        undeploy_hosted_engine=True,
        activate=True,
    )
    wait_until(
        lambda: service.get().status.value == "up" and service.get(all_content=True).hosted_engine is None,
        timeout=60,
    )
    stack.stack.refresh()
    stack.up_killed_when(api_host_out_of_service(lab, "host1"))
    recover(stack)
    result = stack.up()
    assert result.summary.result == "succeeded"
    assert {k: v.value for k, v in result.outputs.items()}["nodeScores"] == {"host1": 3400, "host2": 3400}
