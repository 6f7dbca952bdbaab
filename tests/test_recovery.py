"""A deployment that fails for good: the README's recovery path brings the original Engine back."""

import pytest
from pulumi import automation as auto

from lab.testing import run
from tests.harness import ProjectStack, migration_settings

ADMIN_PASSWORD = "lab-admin-password"


def engine_service(lab):
    return lab.host_state("engine")["services"]["ovirt-engine"]


def test_a_failed_deploy_then_destroy_brings_the_original_engine_back(tmp_path, migration_lab, client_key):
    before = engine_service(migration_lab)
    assert before["active"] and before["enabled"]
    stack = ProjectStack(tmp_path / "project", "site")
    stack.configure(
        migration_settings(migration_lab, migration_lab.ports),
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": "root-Pa55",
        },
    )
    migration_lab.inject_fault(
        "command",
        host="deploy",
        match="hosted-engine --deploy",
        status=1,
        stderr="[ ERROR ] Failed to execute stage 'Closing up': storage unreachable",
        times="always",
    )

    with pytest.raises(auto.errors.CommandError) as failed:
        stack.up()
    assert "hosted-engine --deploy" in str(failed.value)
    stopped = engine_service(migration_lab)
    assert not stopped["active"] and not stopped["enabled"], "the backup stopped the original Engine"
    assert "HostedEngineDeployment" not in stack.export(), "a failed deploy never enters the state"

    # The README's recovery path: nothing protected is in the state, but the address handover powered the original
    # machine off, and the way back waits until it is on again.
    with pytest.raises(auto.errors.CommandError) as refused:
        stack.stack.destroy()
    assert "was powered off by the address handover and does not hold 192.0.2.10 again" in str(refused.value)
    assert not engine_service(migration_lab)["active"], "nothing was started"
    migration_lab.inject_fault("power-on", host="engine")  # the administrator, at its console
    stack.stack.destroy()
    back = engine_service(migration_lab)
    assert back["active"] and back["enabled"]
    api = migration_lab.engine_connection(password=ADMIN_PASSWORD)
    assert {h.name for h in api.system_service().hosts_service().list()} == {"host1", "host2"}
    assert not (migration_lab.host_state("deploy")["ovirt"].get("he") or {}).get("deployed"), "nothing was deployed"
    client = migration_lab.ssh("backup")
    status, listing, _ = run(client, "ls -1 /backup")
    client.close()
    assert status == 0 and "engine-lab.backup" in listing.split(), "the backup files stay"
