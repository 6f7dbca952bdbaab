"""The ovirt.ovirt Ansible collection (from the pinned `ansible` package, unchanged) against the lab's Engines.

Playbooks in tests/ansible/ run with the virtualenv's interpreter (the collection's modules import ovirtsdk4),
connection local, and every Ansible directory under the test's own tmp dir.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import ovirtsdk4.types as types
import pytest

from tests.harness import ProjectStack, migration_settings

PLAYBOOKS = Path(__file__).parent / "ansible"
ADMIN_PASSWORD = "lab-admin-password"  # the original Engine's, restored on the new one
HOST_ROOT_PASSWORD = "lab-root-password"  # the default model's hosts'


def run_playbook(work: Path, playbook: str, **variables) -> dict:
    """ansible-playbook on localhost; returns what the playbook wrote to `out`."""
    work.mkdir(parents=True, exist_ok=True)
    home = work / "ansible-home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(home / "tmp"),
        ANSIBLE_COLLECTIONS_PATH=str(home / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_CONFIG=str(home / "none.cfg"),
    )
    out = work / "result.json"
    extra = work / "vars.json"
    extra.write_text(json.dumps({**variables, "out": str(out), "ansible_python_interpreter": sys.executable}))
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-e",
        f"@{extra}",
        str(PLAYBOOKS / playbook),
    ]
    done = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def original(lab, tmp_path_factory):
    """The rehearsal playbook's results on the original Engine."""
    api = lab.engine_api
    return run_playbook(
        tmp_path_factory.mktemp("ansible"),
        "original_engine.yml",
        url=api["url"],
        ca_file=api["ca_file"],
        password=ADMIN_PASSWORD,
    )


def by_name(items):
    return {item["name"]: item for item in items}


def test_host_info_lists_the_hypervisors_with_the_fields_an_engine_serves(original):
    hosts = by_name(original["hosts"])
    assert set(hosts) == {"host1", "host2"}
    for host in hosts.values():
        assert host["cluster"]["name"] == "Default", "follow=cluster inlines the cluster"
        assert host["cpu"]["name"] and host["cpu"]["topology"]["sockets"] >= 1
        assert host["os"]["type"] and "custom_kernel_cmdline" in host["os"]
        assert host["spm"]["priority"] == 5 and host["spm"]["status"] in ("spm", "none")
        assert host["power_management"] == {"automatic_pm_enabled": True, "enabled": False, "kdump_detection": True}
        assert host["version"]["full_version"].startswith("vdsm-") and host["kdump_status"] == "disabled"
        assert host["hardware_information"]["manufacturer"]
    assert sorted(h["spm"]["status"] for h in hosts.values()) == ["none", "spm"]


def test_storage_vm_datacenter_cluster_and_network_info(original):
    (domain,) = original["storage_domains"]
    assert domain["name"] == "data" and domain["storage"]["address"] == "storage.lab.example"
    assert domain["available"] > 0 and domain["used"] > 0 and domain["committed"] > 0
    vms = by_name(original["vms"])
    assert set(vms) == {"vm1", "vm2"} and all(v["status"] == "up" for v in vms.values())
    assert [d["name"] for d in original["datacenters"]] == ["Default"]
    (cluster,) = original["clusters"]
    assert cluster["name"] == "Default" and cluster["cpu"]["type"]
    assert [n["name"] for n in original["networks"]] == ["ovirtmgmt"]


def test_ovirt_host_maintenance_then_present(original, lab):
    assert original["maintenance"]["changed"] and original["maintenance"]["host"]["status"] == "maintenance"
    assert original["present"]["changed"]
    api = lab.engine_connection()
    hosts = api.system_service().hosts_service()
    try:
        assert hosts.list(search="name=host1")[0].status == types.HostStatus.UP
    finally:
        api.close()


def test_events_after_from_are_the_maintenance_and_activation(original):
    last = original["last_event"][0]["index"]
    events = original["new_events"]
    assert events and all(e["index"] > last for e in events)
    codes = [e["code"] for e in sorted(events, key=lambda e: e["index"]) if e["host"]["name"] == "host1"]
    assert codes == [620, 15, 16, 13], codes  # maintenance asked, reached; activation asked, Up
    asked = [e for e in events if e["code"] in (620, 16)]
    assert all(e["user"]["name"] == "admin@internal-authz" and e["correlation_id"] for e in asked)
    assert all(e["origin"] == "oVirt" for e in events)


@pytest.fixture(scope="module")
def new_engine(tmp_path_factory, migration_lab, client_key):
    """A migrated site whose only node is host1 (the deployment host aside): host2 is a hypervisor of the new
    Engine that is not yet a hosted-engine node."""
    stack = ProjectStack(tmp_path_factory.mktemp("project"), "site")
    settings = migration_settings(migration_lab, migration_lab.ports)
    settings["hostedEngineNodes"] = ["host1"]
    stack.configure(
        settings,
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": "engine-vm-root-Pa55",
        },
    )
    assert stack.up().summary.result == "succeeded"
    migration_lab.refresh()
    return migration_lab


def test_reinstall_with_hosted_engine_deploy_makes_a_node_on_the_new_engine(new_engine, tmp_path):
    api = new_engine.engine_api_new
    result = run_playbook(
        tmp_path,
        "new_engine.yml",
        url=api["url"],
        ca_file=api["ca_file"],
        password=ADMIN_PASSWORD,
        host="host2",
        root_password=HOST_ROOT_PASSWORD,
    )
    (before,) = result["before"]
    # no hosted_engine element for a host where it is not configured (BackendHostsResource.addHostedEngineIfConfigured)
    assert before.get("hosted_engine") is None and before["status"] == "up"
    assert result["reinstalled"]["changed"]
    (after,) = result["after"]
    assert after["status"] == "up"
    assert after["hosted_engine"]["configured"] is True and after["hosted_engine"]["score"] > 0
    status = new_engine.host_state("host2")["ovirt"]["he"]
    assert status["deployed"], "the lab's host2 got hosted-engine from host-deploy"
