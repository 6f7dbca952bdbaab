"""An interrupted migration is safe to run again: `pulumi up` is SIGKILLed in every step, resumed
the way the README says, and the site converges to the same end state as an uninterrupted run.

One lab and one stack: each `up` is killed while the next step runs, then the README's recovery
(`pulumi cancel`, `pulumi refresh --clear-pending-creates`) clears the dead run, and the next `up`
starts where the last one stopped.
"""

import json
import os
import shlex
import signal
import subprocess
import threading
import time

import ovirtsdk4.types as types
import pytest

from lab.testing import run
from tests.harness import ProjectStack, block, migration_settings

ADMIN_PASSWORD = "lab-admin-password"

def recovery_commands() -> list[list[str]]:
    """The README's runbook step 9 before its final `up`, for this test's stack (the helper adds --stack)."""
    lines = [shlex.split(line.split("#", 1)[0]) for line in block(9)]
    commands = [[a for a in words[1:] if a not in ("--stack", "site-a")] for words in lines]
    assert commands[-1] == ["up", "--yes"], commands
    return commands[:-1]


@pytest.fixture(scope="module")
def site(tmp_path_factory, migration_lab, client_key):
    stack = ProjectStack(tmp_path_factory.mktemp("project"), "site")
    stack.settings = migration_settings(migration_lab, migration_lab.ports)
    stack.secrets = {"sshPrivateKey": client_key[0].read_text(), "adminPassword": ADMIN_PASSWORD, "engineRootPassword": "root-Pa55"}
    stack.configure(stack.settings, stack.secrets)
    return migration_lab, stack


def pulumi(stack, *args, **kwargs):
    return subprocess.Popen(["pulumi", *args, "--stack", stack.stack.name], cwd=stack.work_dir,
                            env={**os.environ, **stack.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def up_killed_when(stack, started, timeout=120):
    """Runs `pulumi up` and SIGKILLs it as soon as started(output so far) says the step is under way."""
    process, output = pulumi(stack, "up", "--yes", "--skip-preview"), []
    threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True).start()
    deadline = time.monotonic() + timeout
    while not started("".join(output)):
        assert process.poll() is None, "up ended before the step it should be killed in:\n" + "".join(output)
        assert time.monotonic() < deadline, "the step never started:\n" + "".join(output)
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return "".join(output)


def recover(stack):
    """The README's recovery after a killed run."""
    for args in recovery_commands():
        process = pulumi(stack, *args)
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out


def lab_ran(lab, prefix):
    return lambda _output: any(c["command"].startswith(prefix) for c in lab.commands())


def api_host_out_of_service(lab, name):
    def check(_output):
        lab.refresh()
        if not lab.engine_api_new:
            return False
        api = lab.engine_connection(new=True, password=ADMIN_PASSWORD)
        try:
            hosts = api.system_service().hosts_service().list(search=f"name={name}")
            return bool(hosts) and hosts[0].status.value != "up"
        finally:
            api.close()
    return check


def preparation_in_flight(lab):
    """Both kinds of preparation creates at once: the lab slows an export's chown and a drop-in's reload."""
    lab.inject_fault("slow", host="storage", match="^chown", seconds=4, times=1)
    lab.inject_fault("slow", host="host1", match="^systemctl reload multipathd", seconds=4, times=1)
    return lambda output: fault_took_effect(lab, "storage", "chown")(output) and \
        fault_took_effect(lab, "host1", "systemctl reload multipathd")(output)


STEPS = [
    ("StorageExport and MultipathOverride", preparation_in_flight),
    ("EngineBackup", lambda lab: lab_ran(lab, "engine-backup --mode=backup")),
    ("HostedEngineDeployment", lambda lab: lambda out: "TASK [ovirt.ovirt.hosted_engine_setup" in out),
    ("HostedEngineNode host1", lambda lab: api_host_out_of_service(lab, "host1")),
    ("HostedEngineNode host2", lambda lab: api_host_out_of_service(lab, "host2")),
]


@pytest.mark.parametrize("step", [s[0] for s in STEPS])
def test_a_killed_step_resumes(site, step):
    lab, stack = site
    started = dict(STEPS)[step](lab)
    up_killed_when(stack, started)
    recover(stack)


def test_the_resumed_migration_converges_to_the_uninterrupted_end_state(site):
    lab, stack = site
    result = stack.up()
    assert result.summary.result == "succeeded"
    outputs = {k: v.value for k, v in result.outputs.items()}
    assert outputs["nodeScores"] == {"host1": 3400, "host2": 3400}
    commands = [c["command"] for c in lab.commands() if c["kind"] == "exec"]  # a unit's own command is kind "unit"
    assert sum(c.startswith("engine-backup --mode=backup") for c in commands) == 1, "never a second backup"
    assert sum("hosted-engine --deploy" in c for c in commands) == 1, "never a second deploy"
    status, listing, _ = run(lab.ssh("backup"), "sha256sum /backup/engine-lab.backup")
    assert status == 0 and listing.split()[0] == outputs["backup"]["sha256"], "the backup is the one taken"
    api = lab.engine_connection(new=True, password=ADMIN_PASSWORD)
    names = {h.id: h.name for h in api.system_service().hosts_service().list()}
    status_by_host = {}
    for event in sorted(api.system_service().events_service().list(), key=lambda e: int(e.id)):
        status_by_host[names[event.host.id]] = event.description
        busy = [n for n, d in status_by_host.items() if "Maintenance" in d or "Installing" in d]
        assert len(busy) <= 1, f"two hosts out of service at once: {busy}"
    assert stack.up().summary.resource_changes.get("create", 0) == 0
    assert "pending_operations" not in json.loads(stack.export())["deployment"] or \
        not json.loads(stack.export())["deployment"]["pending_operations"]


def fault_took_effect(lab, host, prefix):
    return lambda _output: any(c["kind"] == "fault" and c["host"] == host and c["command"].startswith(prefix)
                               for c in lab.commands())


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
    up_killed_when(stack, fault_took_effect(lab, host, slowed))
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
    wait_until(lambda: service.get().status.value == "maintenance")
    service.install(ssh=types.Ssh(authentication_method=types.SshAuthenticationMethod.PUBLICKEY),
                    undeploy_hosted_engine=True, activate=True)
    wait_until(lambda: service.get().status.value == "up" and not service.get(all_content=True).hosted_engine.configured)
    stack.stack.refresh()
    up_killed_when(stack, api_host_out_of_service(lab, "host1"))
    recover(stack)
    result = stack.up()
    assert result.summary.result == "succeeded"
    assert {k: v.value for k, v in result.outputs.items()}["nodeScores"] == {"host1": 3400, "host2": 3400}


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the lab's Engine never got there"
        time.sleep(0.3)
