"""Hosted-engine nodes following the new Engine API, the Engine VM as an SSH host, and the
progressive output of hosted-engine --deploy (real paramiko and ovirtsdk4 against one lab).

The tests run in order: deploy, convert host1 through the new Engine, undeploy it, then the
Engine VM host (ssh-keyscan as the trusted path to its new key) and a lab restart.
"""

import json
import time

import ovirtsdk4.types as types
import paramiko
import pytest

from lab.testing import run
from tests.harness import ANSWERS, answer_file, engine_vm_client, get, power_off, put, wait_until

DEPLOY = "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf"
DEPLOY_SECONDS = 2  # ovirt_site.DEFAULTS["deploy_seconds"]


def host_service(connection, name):
    hosts = connection.system_service().hosts_service()
    host = hosts.list(search=f"name={name}")[0]
    return hosts.host_service(host.id)


def wait_status(service, status):
    wait_until(lambda: service.get().status == status)


def reinstall_in_maintenance(service, **hosted_engine):
    """Maintenance, then a reinstall with `hosted_engine` (deploy or undeploy) that passes through
    installing and ends back in maintenance, as the Engine's UI does it."""
    service.deactivate()
    wait_status(service, types.HostStatus.MAINTENANCE)
    service.install(
        activate=False, ssh=types.Ssh(authentication_method=types.SshAuthenticationMethod.PUBLICKEY), **hosted_engine
    )
    wait_status(service, types.HostStatus.INSTALLING)
    wait_status(service, types.HostStatus.MAINTENANCE)


def vm_status(client):
    status, out, err = run(client, "hosted-engine --vm-status --json")
    assert status == 0, out + err
    return json.loads(out)


def test_vm_status_fails_on_a_host_that_is_not_a_node(lab):
    # ovirt-host pulls in ovirt-hosted-engine-setup; without hosted-engine.conf, hosted-engine.in
    # prints this on stdout and exits 1.
    assert run(lab.ssh("host1"), "hosted-engine --vm-status --json") == (1, "You must run deploy first\n", "")
    assert run(lab.ssh("host1"), "hosted-engine --vm-status") == (1, "You must run deploy first\n", "")


def test_deploy_output_arrives_while_it_runs(lab):
    engine, deploy = lab.ssh("engine"), lab.ssh("deploy")
    assert (
        run(engine, "engine-backup --mode=backup --scope=all --file=/root/engine.backup --log=/root/engine-backup.log")[
            0
        ]
        == 0
    )
    put(deploy, "/root/engine.backup", get(engine, "/root/engine.backup"))
    put(deploy, "/root/answers.conf", answer_file(ANSWERS))
    assert run(lab.ssh("storage"), "chown 36:36 /exports/hosted_engine")[0] == 0
    power_off(engine)  # the Engine VM takes its address
    chan = deploy.get_transport().open_session(timeout=10)
    chan.settimeout(30)
    chan.exec_command(DEPLOY)
    chan.shutdown_write()
    stamps, lines = [], []
    for raw in chan.makefile("rb"):
        stamps.append(time.monotonic())
        lines.append(raw.decode().rstrip("\n"))
    assert chan.recv_exit_status() == 0, "\n".join(lines)
    assert "[ INFO  ] Hosted Engine successfully deployed" in lines
    assert stamps[-1] - stamps[0] >= DEPLOY_SECONDS / 2


def test_host_reinstalled_with_deploy_hosted_engine_becomes_a_node(lab):
    connection = lab.engine_connection(new=True)
    host1 = host_service(connection, "host1")
    reinstall_in_maintenance(host1, deploy_hosted_engine=True)
    client = lab.ssh("host1")
    # host-deploy (ovirt-host-deploy-hosted-engine/tasks/deploy.yml) enables and restarts the agent; the
    # agent's unit wants the broker
    assert run(client, "systemctl is-enabled ovirt-ha-agent") == (0, "enabled\n", "")
    for unit in ("ovirt-ha-agent", "ovirt-ha-broker"):
        assert run(client, f"systemctl is-active {unit}") == (0, "active\n", "")
    assert run(client, "stat -c '%a %u:%g' /etc/ovirt-hosted-engine/hosted-engine.conf") == (0, "440 36:36\n", "")
    conf = dict(
        line.split("=", 1) for line in get(client, "/etc/ovirt-hosted-engine/hosted-engine.conf").decode().splitlines()
    )
    assert conf["fqdn"] == "engine.lab.example" and conf["host_id"] == "1"  # its vds_spm_id
    assert conf["storage"] == "storage.lab.example:/exports/hosted_engine" and conf["domainType"] == "nfs"
    in_maintenance = vm_status(client)["1"]
    assert in_maintenance["hostname"] == "host1.lab.example"
    # the agent knows nothing of the Engine's maintenance: no HA local maintenance was asked of it
    assert (in_maintenance["score"], in_maintenance["maintenance"]) == (3400, False)
    # the Engine did not monitor the host in maintenance: it does not know yet
    assert host1.get(all_content=True).hosted_engine is None  # not configured: no element
    host1.activate()
    wait_status(host1, types.HostStatus.UP)
    for name in ("host1", "deploy"):  # every node lists every hosted-engine host
        data = vm_status(lab.ssh(name))
        assert set(data) == {"1", "3", "global_maintenance"} and data["global_maintenance"] is False
        node, first = data["1"], data["3"]  # vds_spm_id: host1 1, host2 2, the deployment host 3
        assert node["hostname"] == "host1.lab.example" and node["score"] > 0 and node["maintenance"] is False
        assert node["engine-status"] == {
            "vm": "down",
            "health": "bad",
            "detail": "unknown",
            "reason": "vm not running on this host",
        }
        assert first["hostname"] == "she-deploy.lab.example" and first["score"] == 3400
        assert first["engine-status"] == {"vm": "up", "health": "good", "detail": "Up"}
        assert {
            "conf_on_shared_storage",
            "live-data",
            "stopped",
            "crc32",
            "local_conf_timestamp",
            "host-ts",
            "extra",
            "host-id",
        } <= set(node)
    status, out, _ = run(client, "hosted-engine --vm-status")
    assert status == 0 and "--== Host host1.lab.example (id: 1) status ==--" in out
    assert "--== Host she-deploy.lab.example (id: 3) status ==--" in out
    he = host1.get(all_content=True).hosted_engine  # monitored now that it is up
    assert he.configured and he.score == 3400 and he.active and not he.local_maintenance


def test_a_restarted_agent_is_seen_with_its_previous_record_until_it_publishes_again(lab):
    """agent/hosted_engine.py start_monitoring: VDSM, the broker, the domain monitor and the sanlock lock come first,
    and until its loop publishes, readers keep the record it published before (never a null engine-status)."""
    client = lab.ssh("host1")
    before = wait_until(lambda: vm_status(client)["1"]["engine-status"])
    assert run(client, "systemctl restart ovirt-ha-agent")[0] == 0
    assert vm_status(client)["1"]["engine-status"] == before and before["vm"] == "down"
    assert wait_until(lambda: vm_status(client)["1"]["engine-status"])["vm"] == "down"
    assert run(client, "systemctl stop ovirt-ha-agent")[0] == 0
    assert vm_status(client)["1"]["live-data"] is False
    assert run(client, "systemctl start ovirt-ha-agent")[0] == 0


def test_maintenance_of_a_node_asks_its_agent_for_local_maintenance(lab):
    """MaintenanceVdsCommand sets HA local maintenance on a hosted-engine host; InitVdsOnUp clears it."""
    host1 = host_service(lab.engine_connection(new=True), "host1")
    host1.deactivate()
    wait_status(host1, types.HostStatus.MAINTENANCE)
    client = lab.ssh("host1")
    assert (vm_status(client)["1"]["score"], vm_status(client)["1"]["maintenance"]) == (0, True)
    host1.activate()
    wait_status(host1, types.HostStatus.UP)
    assert wait_until(lambda: vm_status(client)["1"]["maintenance"] is False)


def test_undeploy_hosted_engine_reverses_it(lab):
    host1 = host_service(lab.engine_connection(new=True), "host1")
    reinstall_in_maintenance(host1, undeploy_hosted_engine=True)
    client = lab.ssh("host1")
    assert run(client, "hosted-engine --vm-status --json") == (1, "You must run deploy first\n", "")
    assert run(client, "systemctl is-active ovirt-ha-agent")[0] == 3
    assert run(client, "test -e /etc/ovirt-hosted-engine/hosted-engine.conf")[0] == 1  # tasks/remove.yml
    assert set(vm_status(lab.ssh("deploy"))) == {"3", "global_maintenance"}


def test_engine_vm_key_comes_from_ssh_keyscan(lab):
    lab.refresh()
    info = lab.info["hosts"]["engine-vm"]
    assert info["role"] == "new-engine-vm" and info["fqdn"] == "engine.lab.example"
    assert info["host_key"] != lab.info["hosts"]["engine"]["host_key"]  # the deployment changed the SSH keys
    assert info["host_key"] not in lab.known_hosts.read_text()
    with pytest.raises(paramiko.SSHException):
        lab.ssh("engine-vm")
    status, out, err = run(lab.ssh("deploy"), "ssh-keyscan -t ed25519 engine.lab.example")
    assert status == 0 and err.startswith("# engine.lab.example:22 SSH-2.0-")
    assert out == f"engine.lab.example {info['host_key']}\n"
    status, out, _ = run(lab.ssh("deploy"), f"ssh-keyscan -p {lab.port('engine-vm')} engine.lab.example")
    assert out == f"[engine.lab.example]:{lab.port('engine-vm')} {info['host_key']}\n"
    client = engine_vm_client(lab, run(lab.ssh("deploy"), "ssh-keyscan -q engine.lab.example")[1])
    status, out, err = run(client, "dnf module enable -y pki-deps")
    assert status == 0 and "Enabling module streams:" in out, out + err
    assert run(client, "systemctl is-active ovirt-engine") == (0, "active\n", "")
    assert run(client, "yum repolist")[1].startswith("repo id")
    assert run(client, "id -u ovirt") == (0, "108\n", "")


def test_engine_vm_survives_a_restart(lab):
    key = lab.refresh()["hosts"]["engine-vm"]["host_key"]
    lab.stop()
    lab.start()
    assert lab.info["hosts"]["engine-vm"]["host_key"] == key
    client = engine_vm_client(lab, f"engine.lab.example {key}")
    assert "pki-deps            10.6 [e]" in run(client, "dnf module list --enabled")[1]
    assert vm_status(lab.ssh("deploy"))["3"]["score"] == 3400
