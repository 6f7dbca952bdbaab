"""The lab's oVirt side over real SSH (paramiko) and the real ovirtsdk4.

The tests in this module run in order against one lab: update the Engine,
back it up, deploy the self-hosted Engine from the backup, then check the
new Engine API and the HA status.
"""

import io
import json
import tarfile
import time
from pathlib import Path

import ovirtsdk4 as sdk
import pytest

from lab.testing import run
from tests.harness import ANSWERS, answer_file, get, power_off, put

DC_PROMPT = (
    "Please enter the name of the data center where you want to deploy this hosted-engine host.\n"
    "          Please note: If you are restoring a backup of a hosted-engine,"
)


def hosts_of(connection):
    return sorted(h.name for h in connection.system_service().hosts_service().list())


def test_lab_json_describes_the_engine_api(lab):
    api = lab.engine_api
    assert api["url"].startswith("https://127.0.0.1:") and api["url"].endswith("/ovirt-engine/api")
    assert Path(api["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert lab.engine_api_new is None


def test_engine_api_answers_only_while_ovirt_engine_runs(lab):
    engine = lab.ssh("engine")
    connection = lab.engine_connection()
    assert hosts_of(connection) == ["host1", "host2"]
    assert run(engine, "systemctl stop ovirt-engine")[0] == 0
    with pytest.raises(sdk.Error):
        lab.engine_connection().system_service().hosts_service().list()
    assert run(engine, "systemctl start ovirt-engine")[0] == 0
    assert hosts_of(lab.engine_connection()) == ["host1", "host2"]


def test_engine_update_check_and_setup(lab):
    engine = lab.ssh("engine")
    status, out, _ = run(engine, "engine-upgrade-check")
    assert (status, out.splitlines()[-1]) == (0, "Upgrade available")
    status, out, _ = run(engine, "engine-setup --accept-defaults")
    assert status == 1 and "Execution of setup failed" in out
    status, out, _ = run(engine, "yum update -y ovirt\\*setup\\*")
    assert status == 0 and "ovirt-engine-setup-" in out and out.endswith("Complete!\n")
    status, out, _ = run(engine, "engine-upgrade-check")
    assert (status, out.splitlines()[-1]) == (1, "No upgrade")
    before = lab.host_state("engine")["services"]["ovirt-engine"]["counts"]
    status, out, _ = run(engine, "engine-setup --accept-defaults")
    assert status == 0, out
    assert "[ INFO  ] Stopping engine service" in out and "[ INFO  ] Starting engine service" in out
    assert out.splitlines()[-1] == "[ INFO  ] Execution of setup completed successfully"
    after = lab.host_state("engine")["services"]["ovirt-engine"]["counts"]
    assert after["stop"] == before.get("stop", 0) + 1 and after["start"] == before.get("start", 0) + 1
    assert run(engine, "engine-setup --accept-defaults")[1].count("No product updates found") == 1


def test_engine_backup_errors(lab):
    engine = lab.ssh("engine")
    assert run(engine, "engine-backup --mode=verify --log=/root/x.log") == (1, "", "FATAL: --file is missing\n")
    assert run(engine, "engine-backup --mode=check") == (1, "", "FATAL: invalid mode\n")
    status, out, _ = run(engine, "engine-backup")  # --mode, --file and --log have defaults (4.3 and later)
    assert status == 0 and "archive file: /var/lib/ovirt-engine-backup/ovirt-engine-backup-" in out
    assert "log file: /var/log/ovirt-engine-backup/ovirt-engine-backup-" in out
    status, out, err = run(engine, "engine-backup --mode=backup --file=/nowhere/b.tar.gz --log=/root/x.log")
    assert status == 1 and err == "FATAL: Cannot create '/nowhere/b.tar.gz'\n"
    assert "Cannot open: No such file or directory" in out
    assert run(engine, "engine-backup --mode=verify --file=/root/none --log=/root/x.log")[0] == 1
    assert run(lab.ssh("storage"), "engine-backup --mode=backup")[0] == 127


def test_engine_backup_archive(lab):
    engine = lab.ssh("engine")
    assert run(engine, "systemctl stop ovirt-engine")[0] == 0  # procedure 5.1
    status, out, err = run(
        engine, "engine-backup --mode=backup --scope=all --file=/root/engine.backup --log=/root/engine-backup.log"
    )
    assert status == 0, err
    assert "- Engine database 'engine'" in out and out.endswith("Done.\n")
    archive = tarfile.open(fileobj=io.BytesIO(get(engine, "/root/engine.backup")), mode="r:gz")
    names = set(archive.getnames())
    assert {"./files", "./db/engine_backup.db", "./version", "./os_version", "./config", "./sha256sum"} <= names
    assert "./md5sum" not in names  # sha256sum since 4.4.0
    assert archive.extractfile("./config").read().decode().splitlines() == [
        "DB_DUMP_COMPRESSOR=",
        "DB_DUMP_FORMAT=custom",
        "DWH_DB_DUMP_COMPRESSOR=",
        "DWH_DB_DUMP_FORMAT=custom",
        "KEYCLOAK_DB_DUMP_COMPRESSOR=",
        "KEYCLOAK_DB_DUMP_FORMAT=custom",
        "CINDERLIB_DB_DUMP_COMPRESSOR=",
        "CINDERLIB_DB_DUMP_FORMAT=custom",
    ]
    assert archive.extractfile("./version").read() == b"4.5.6\n"
    assert archive.extractfile("./os_version").read() == b"centos8\n"
    files = tarfile.open(fileobj=io.BytesIO(archive.extractfile("./files").read()), mode="r:xz")
    assert "var/lib/ovirt-engine/setup" in files.getnames()  # /var/lib/ovirt-engine/* ...
    assert not [n for n in files.getnames() if n.startswith("var/lib/ovirt-engine/backups")]  # ... minus backups
    sums = archive.extractfile("./sha256sum").read().decode()
    assert "  db/engine_backup.db\n" in sums and "  version\n" in sums
    log = get(engine, "/root/engine-backup.log").decode()
    assert "Start of engine-backup mode backup scope all file /root/engine.backup" in log
    assert "OUTPUT: Done." in log
    assert run(engine, "engine-backup --mode=verify --file=/root/engine.backup --log=/root/verify.log")[0] == 0
    put(lab.ssh("deploy"), "/root/engine.backup", get(engine, "/root/engine.backup"))


def test_deploy_prompts_for_a_missing_answer(lab):
    deploy = lab.ssh("deploy")
    partial = {k: v for k, v in ANSWERS.items() if k != "OVEHOSTED_ENGINE/datacenterName"}
    put(deploy, "/root/partial.conf", answer_file(partial))
    status, out, _ = run(
        deploy, "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/partial.conf"
    )
    assert status == 1
    assert DC_PROMPT in out and "Data center: " in out
    assert "[ ERROR ] Failed to execute stage 'Environment customization': End of file" in out
    assert "[ INFO  ] Using Engine VM FQDN engine.lab.example from backup file." in out
    put(deploy, "/root/answers.conf", answer_file(ANSWERS))
    status, out, err = run(
        deploy, "hosted-engine --deploy --restore-from-file=/root/missing.backup --config-append=/root/answers.conf"
    )
    assert (status, out, err) == (1, "", "FATAL: File /root/missing.backup not found!\n")
    assert run(deploy, "hosted-engine --vm-status") == (1, "You must run deploy first\n", "")
    assert lab.engine_api_new is None


def test_deploy_over_ssh_without_a_tty_stops_at_once(lab):
    """gr-he-common/core/shell.py: an SSH session without a pseudo-tty is refused unless skipTTYCheck."""
    deploy = lab.ssh("deploy")
    put(deploy, "/root/tty.conf", answer_file({k: v for k, v in ANSWERS.items() if "skipTTYCheck" not in k}))
    status, out, _ = run(
        deploy, "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/tty.conf"
    )
    assert status == 1 and "without pseudo-tty allocation" in out
    assert "Failed to execute stage 'Environment setup': Aborted due to missing requirement" in out


def test_deploy_checks_storage_permissions(lab):
    status, out, _ = run(
        lab.ssh("deploy"),
        "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf",
    )
    assert status == 1 and "Permission settings on the specified path do not allow access" in out


DEPLOY = "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf"


def test_a_failed_deploy_leaves_the_bootstrap_vm_and_vdsm_until_the_cleanup(lab):
    deploy = lab.ssh("deploy")  # the storage permission failure came after the bootstrap VM was created
    assert run(deploy, "virsh -r domstate HostedEngineLocal") == (0, "running\n\n", "")
    assert run(deploy, "virsh -r domstate HostedEngine") == (1, "", "error: failed to get domain 'HostedEngine'\n")
    assert run(deploy, "hosted-engine --vm-status")[:2] == (
        2,
        "It seems like a previous attempt to deploy hosted-engine failed or it's still in progress. "
        "Please clean it up before trying again\n",
    )
    status, _, err = run(deploy, DEPLOY)
    assert status == 127 and "is not modelled by the lab" in err and "HostedEngineLocal" in err, err
    status, out, err = run(deploy, "ovirt-hosted-engine-cleanup")  # stdin is not a terminal: no answer
    assert (status, err) == (1, "FATAL: Please contact support for further assistance.\n")
    assert "Are you sure you want to proceed? [y/n]" in out
    status, out, _ = run(deploy, "ovirt-hosted-engine-cleanup -q")
    assert status == 0 and "  -=== Killing left-behind HostedEngine processes ===- " in out.splitlines(), out
    assert run(deploy, "virsh -r domstate HostedEngineLocal")[0] == 1
    assert run(deploy, "hosted-engine --vm-status") == (1, "You must run deploy first\n", "")

    assert run(lab.ssh("storage"), "chown 36:36 /exports/hosted_engine")[0] == 0
    power_off(lab.ssh("engine"))  # the Engine VM takes its address
    lab.inject_fault("deploy-task", host="deploy", task="Wait for the host to be up", msg="Host is not up")
    status, out, _ = run(deploy, DEPLOY, timeout=30)
    assert status == 1 and '"msg": "Host is not up"' in out and "re-deploy from scratch" in out
    assert run(deploy, "systemctl is-active vdsmd")[0] == 0, "host-deploy configured VDSM for the bootstrap Engine"
    status, out, _ = run(deploy, "ovirt-hosted-engine-cleanup -q")
    assert status == 0 and "- removing /etc/pki/vdsm/certs/vdsmcert.pem" in out.splitlines(), out
    assert "? /etc/ovirt-hosted-engine/hosted-engine.conf already missing" in out.splitlines()
    assert run(deploy, "systemctl is-active vdsmd")[0] != 0 and run(deploy, "virsh -r domstate HostedEngineLocal")[0]


def test_deploy_restores_the_backup_into_the_new_engine(lab):
    deploy = lab.ssh("deploy")
    status, out, err = run(
        deploy,
        "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf",
        timeout=30,
    )
    assert status == 0, out + err
    assert "[ INFO  ] Hosted Engine successfully deployed" in out
    assert lab.engine_api_new is not None
    system = lab.engine_connection(new=True).system_service()
    assert hosts_of(lab.engine_connection(new=True)) == ["host1", "host2", "she-deploy.lab.example"]
    vms = {vm.name: vm for vm in system.vms_service().list()}
    assert set(vms) == {"HostedEngine", "vm1", "vm2"}
    assert vms["HostedEngine"].status == sdk.types.VmStatus.UP
    assert "hosted_storage" in [sd.name for sd in system.storage_domains_service().list()]
    for unit in ("vdsmd", "ovirt-ha-agent", "ovirt-ha-broker"):
        assert run(deploy, f"systemctl is-active {unit}")[0] == 0


def test_vm_status_json_has_the_ha_client_fields(lab):
    deadline = time.monotonic() + 10
    while True:  # the agent has just started: no engine health yet (engine-status null)
        status, out, _ = run(lab.ssh("deploy"), "hosted-engine --vm-status --json")
        assert status == 0
        data = json.loads(out)
        if data["3"]["engine-status"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert data["global_maintenance"] is False
    host = data["3"]  # its vds_spm_id: the lowest free after host1 and host2
    assert host["host-id"] == 3 and host["hostname"] == "she-deploy.lab.example"
    assert host["score"] == 3400 and host["maintenance"] is False
    assert host["engine-status"] == {"vm": "up", "health": "good", "detail": "Up"}
    status, out, _ = run(lab.ssh("deploy"), "hosted-engine --vm-status")
    assert "--== Host she-deploy.lab.example (id: 3) status ==--" in out
    assert "Score                              : 3400" in out


def test_new_engine_survives_a_lab_restart(lab):
    lab.stop()
    lab.start()
    assert "HostedEngine" in [vm.name for vm in lab.engine_connection(new=True).system_service().vms_service().list()]


def test_dnf_modules_repolist_nodectl_getent(lab):
    engine = lab.ssh("backup")  # an EL8 host like the original Engine machine, which is off since the deploy
    assert run(engine, "dnf module list --enabled")[0] == 1
    status, out, _ = run(engine, "dnf module enable -y javapackages-tools pki-deps postgresql:12")
    assert status == 0 and "Enabling module streams:" in out
    status, out, _ = run(engine, "dnf module list --enabled")
    assert status == 0 and "javapackages-tools  201801 [e]" in out and "postgresql" in out
    assert run(engine, "dnf module enable -y postgresql:13")[0] == 1
    assert run(engine, "dnf module enable -y no-such-module")[0] == 1
    assert run(engine, "dnf module enable pki-deps")[0] == 0  # already enabled: nothing to do
    status, out, _ = run(engine, "yum repolist")
    assert status == 0 and out.startswith("repo id") and "ovirt-45-upstream" in out
    assert run(engine, "nodectl check")[0] == 127
    assert run(engine, "getent hosts storage.lab.example") == (0, "192.0.2.20      storage.lab.example\n", "")
    assert run(engine, "getent hosts nowhere.lab.example") == (2, "", "")
