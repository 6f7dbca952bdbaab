"""Transient units as systemd-run makes them, and the deploy's process as ps and pgrep see it
(real paramiko against one lab; the tests run in order)."""

import pytest

from lab.testing import LabProcess, run, site_variant
from tests.harness import ANSWERS, OLD_ANSWER_FILE, answer_file, get, power_off, put, wait_until

DEPLOY = "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf"
OTOPI = "/bin/python3 -B -m otopi.__main__  APPEND:BASE/pluginPath=str:/usr/share/ovirt-hosted-engine-setup/"


def show(client, unit):
    status, out, _ = run(
        client, f"systemctl show {unit} --property=LoadState,ActiveState,SubState,Result,ExecMainStatus"
    )
    assert status == 0
    return dict(line.split("=", 1) for line in out.splitlines())


def test_a_background_unit_outlives_its_session_and_keeps_its_result(lab):
    client = lab.ssh("deploy")
    assert run(
        client,
        "systemd-run --unit=pause -p RemainAfterExit=yes -p StandardOutput=file:/root/pause.log "
        "-- sh -c 'echo started; sleep 1; echo done'",
    ) == (0, "", "Running as unit: pause.service\n")
    client.close()  # the session that started it is gone
    client = lab.ssh("deploy")
    assert show(client, "pause")["SubState"] == "running"
    assert run(client, "systemd-run --unit=pause --quiet -- true") == (
        1,
        "",
        "Failed to start transient service unit: Unit pause.service already exists.\n",
    )
    wait_until(lambda: show(client, "pause")["SubState"] == "exited")
    assert show(client, "pause") == {
        "LoadState": "loaded",
        "ActiveState": "active",
        "SubState": "exited",
        "Result": "success",
        "ExecMainStatus": "0",
    }
    assert get(client, "/root/pause.log") == b"started\ndone\n"
    assert run(client, "systemctl stop pause")[0] == 0
    assert show(client, "pause")["LoadState"] == "not-found"


def test_a_failed_unit_stays_until_reset_and_a_stopped_one_goes(lab):
    client = lab.ssh("deploy")
    assert run(client, "systemd-run --unit=fails --quiet -- false")[0] == 0
    wait_until(lambda: show(client, "fails")["ActiveState"] == "failed")
    assert show(client, "fails")["Result"] == "exit-code" and show(client, "fails")["ExecMainStatus"] == "1"
    assert run(client, "systemctl is-active fails") == (3, "failed\n", "")
    assert run(client, "systemctl reset-failed fails")[0] == 0
    assert show(client, "fails")["LoadState"] == "not-found"
    assert run(client, "systemd-run --unit=long --quiet -- sleep 30")[0] == 0
    assert run(client, "systemctl stop long")[0] == 0
    wait_until(lambda: show(client, "long")["LoadState"] == "not-found")


def prepare_deploy(lab):
    engine, deploy = lab.ssh("engine"), lab.ssh("deploy")
    assert run(engine, "engine-backup --mode=backup --scope=all --file=/root/engine.backup --log=/root/b.log")[0] == 0
    put(deploy, "/root/engine.backup", get(engine, "/root/engine.backup"))
    put(deploy, "/root/answers.conf", answer_file({k: v for k, v in ANSWERS.items() if "skipTTYCheck" not in k}))
    assert run(lab.ssh("storage"), "chown 36:36 /exports/hosted_engine")[0] == 0
    return deploy


def test_a_piped_deploy_dies_with_the_session_that_reads_it(lab):
    """With --pipe the service writes to the SSH channel: once the client is gone, its next write fails
    (SIGPIPE) and the deploy dies half-way."""
    deploy = prepare_deploy(lab)
    channel = deploy.get_transport().open_session(timeout=10)
    channel.exec_command(f"systemd-run --unit=piped --wait --pipe --quiet -- {DEPLOY}")
    channel.shutdown_write()
    assert channel.recv(64)  # the first lines arrive
    channel.close()
    wait_until(lambda: show(deploy, "piped")["ActiveState"] == "failed")
    assert show(deploy, "piped")["Result"] == "signal" and show(deploy, "piped")["ExecMainStatus"] == "13"
    assert run(deploy, "test -e /etc/ovirt-hosted-engine/hosted-engine.conf")[0] == 1
    assert run(deploy, "systemctl reset-failed piped")[0] == 0


@pytest.mark.parametrize(
    "key,value,stage,message",
    [
        (
            "OVEHOSTED_NOTIF/smtpServer",
            "str:SMTP.example.com",
            "Environment customization",
            "Invalid input for environment value OVEHOSTED_NOTIF/smtpServer",
        ),
        (
            "OVEHOSTED_VM/vmMACAddr",
            "str:01:16:3e:00:00:01",
            "Environment customization",
            "Invalid unicast MAC address specified",
        ),
        (
            "OVEHOSTED_NETWORK/host_name",
            "str:host1.lab.example",
            "Setup validation",
            "host1.lab.example resolves to 192.0.2.41 and not all of them can be mapped",
        ),
    ],
)
def test_the_deploy_refuses_what_its_plugins_refuse(lab, key, value, stage, message):
    deploy = lab.ssh("deploy")
    put(deploy, "/root/bad.conf", answer_file({**ANSWERS, key: value}))
    status, out, _ = run(
        deploy, "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/bad.conf"
    )
    assert status == 1 and f"[ ERROR ] Failed to execute stage '{stage}': {message}" in out, out


def test_the_answer_file_the_old_provider_wrote_stops_at_its_first_unanswered_question(lab):
    """Run as the old provider ran it: the deploy asks forceIpProceed (2.6.5+) and finds no input."""
    deploy = lab.ssh("deploy")
    put(deploy, "/root/old.conf", OLD_ANSWER_FILE)
    status, out, _ = run(
        deploy,
        "systemd-run --unit=old --collect --wait --pipe --quiet -- hosted-engine --deploy "
        "--restore-from-file=/root/engine.backup --config-append=/root/old.conf",
    )
    assert status == 1
    assert "Do you want to continue anyway? (Yes, No)[No]:" in out
    assert "[ ERROR ] Failed to execute stage 'Environment setup': End of file" in out
    assert show(deploy, "old")["LoadState"] == "not-found"  # --collect: a failed unit is unloaded


def test_a_deploy_in_a_unit_runs_as_otopi_and_writes_its_file(lab):
    power_off(lab.ssh("engine"))  # the Engine VM takes its address
    deploy = lab.ssh("deploy")
    assert run(deploy, f"systemd-run --unit=he --quiet -p StandardOutput=file:/root/he.log -- {DEPLOY}")[0] == 0
    deploy.close()
    deploy = lab.ssh("deploy")
    # hosted-engine execs ovirt-hosted-engine-setup, which execs otopi: the process is python's
    status, out, _ = run(deploy, "pgrep -fa otopi.__main__")
    assert status == 0 and OTOPI in out and "OVEHOSTED_CORE/restoreFromFile=str:/root/engine.backup" in out
    assert run(deploy, "pgrep -f 'hosted-engine --deploy'")[0] == 1
    wait_until(lambda: show(deploy, "he")["LoadState"] == "not-found")  # ended well: a plain service is unloaded
    log = get(deploy, "/root/he.log").decode()
    assert "[ INFO  ] Hosted Engine successfully deployed" in log
    assert "Failed to execute stage" not in log
    status, out, _ = run(deploy, "ls -1 /var/log/ovirt-hosted-engine-setup")
    assert status == 0 and out.startswith("ovirt-hosted-engine-setup-")


def test_nodectl_check_exits_0_and_colours_its_status_healthy_or_not(tmp_path, client_key):
    """ovirt-node-ng nodectl: Application.check() only prints; a stopped vdsmd turns the status to WARN."""
    site = site_variant(tmp_path / "site.yaml", lambda d: d["hosts"][3].update(ovirt_node=True))
    with LabProcess(tmp_path / "lab", site=site, authorized_keys=[client_key[1]], client_key=client_key[0]) as node_lab:
        client = node_lab.ssh("host1")
        status, out, _ = run(client, "nodectl check")
        assert status == 0 and out.startswith("\x1b[1mStatus: \x1b[32mOK\x1b[0m\x1b[0m\n")
        assert run(client, "systemctl stop vdsmd")[0] == 0
        status, out, _ = run(client, "nodectl check")
        assert status == 0 and "WARN" in out.splitlines()[0] and "vdsmd ... BAD" in out
