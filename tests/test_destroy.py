"""A migrated site keeps its high availability and one Engine through any `pulumi destroy`.

One lab migrated once, then every way a destroy can be asked for: with its preview, without it
(`--skip-preview`, where the engine starts deleting before it meets a protected resource), aimed at
one node (`--target`), and aimed at the address handover and the backup once the deployment and nodes are
forgotten. Each
is refused and leaves the site as it was: both nodes Up, configured and scored, the original Engine
stopped and disabled, no command that changes a host sent.
"""

import pytest

from tests.harness import changing_commands, migrated_stack

ADMIN_PASSWORD = "lab-admin-password"
NODES = ("hosted-engine-node-host1", "hosted-engine-node-host2")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory, migration_lab, client_key):
    return migration_lab, migrated_stack(tmp_path_factory.mktemp("project"), migration_lab, client_key, ADMIN_PASSWORD)


def site_as_it_was(lab, changed_before):
    api = lab.engine_connection(new=True, password=ADMIN_PASSWORD)
    try:
        hosts = {h.name: h for h in api.system_service().hosts_service().list(all_content=True)}
    finally:
        api.close()
    for name in ("host1", "host2"):
        assert hosts[name].status.value == "up" and hosts[name].hosted_engine.configured, f"{name} lost its node role"
    engine = lab.host_state("engine")["services"]["ovirt-engine"]
    assert not engine["active"] and not engine["enabled"], "the original Engine was started again"
    assert changing_commands(lab) == changed_before, "a destroy changed a host"


@pytest.mark.parametrize("how", [["--yes"], ["--yes", "--skip-preview"]])
def test_a_whole_destroy_is_refused_before_any_node_is_undeployed(migrated, how):
    lab, stack = migrated
    before = changing_commands(lab)
    refused = stack.run_cli("destroy", *how)
    assert refused.returncode != 0
    assert "protect" in refused.stdout + refused.stderr
    site_as_it_was(lab, before)


def test_a_destroy_aimed_at_one_node_is_refused(migrated):
    lab, stack = migrated
    before = changing_commands(lab)
    refused = stack.run_cli("destroy", "--yes", "--skip-preview", "--target", stack.urn(NODES[1]))
    assert refused.returncode != 0 and "protect" in refused.stdout + refused.stderr
    site_as_it_was(lab, before)


def test_the_way_back_waits_for_the_original_machine_and_does_not_start_it_while_the_new_engine_runs(migrated):
    """Even with the deployment and nodes forgotten (`pulumi state delete`), the way back refuses: the address
    handover until the original machine holds the Engine's address again (the Engine VM answers there now), and
    EngineBackup, once that is forgotten too, because two Engines would manage the same hosts."""
    lab, stack = migrated
    for name in (*reversed(NODES), "hosted-engine"):  # dependents first
        stack.cli("state", "delete", "--force", "--yes", stack.urn(name))
    before = changing_commands(lab)
    refused = stack.run_cli("destroy", "--yes", "--skip-preview", "--target", stack.urn("address-handover"))
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "was powered off by the address handover and does not hold 192.0.2.10" in said
    assert "with the new Engine VM shut down first" in said, said
    site_as_it_was(lab, before)
    stack.cli("state", "delete", "--force", "--yes", stack.urn("address-handover"))
    refused = stack.run_cli("destroy", "--yes", "--skip-preview", "--target", stack.urn("engine-backup"))
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "two Engines must never manage the same hosts" in said and "ovirt-hosted-engine-cleanup" in said, said
    site_as_it_was(lab, before)
    assert "engine-backup" in stack.export(), "the refused delete keeps the backup in the state"
