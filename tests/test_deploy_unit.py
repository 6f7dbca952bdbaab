"""The deploy through the real engine as the real one behaves: it runs as a transient unit whose output the
provider follows, so a dropped session costs nothing; a restore that fails pauses the role, and `up`
says so and leaves it waiting; a refresh while the Engine VM is down keeps the deployment."""

import pytest
from pulumi import automation as auto

from lab.ovirt_site import ship_appliance
from lab.testing import LabProcess, run, site_variant
from tests.harness import ProjectStack, migration_settings, pinned_ports_site

ADMIN_PASSWORD = "lab-admin-password"
UNIT = "ovirt-she-hosted-engine-deploy"


def migration(tmp_path, client_key, modify=None):
    site, ports = pinned_ports_site(tmp_path / "site.yaml")
    if modify is not None:
        site = site_variant(tmp_path / "variant.yaml", modify, base=site)
    lab = LabProcess(tmp_path / "lab", site=site, authorized_keys=[client_key[1]], client_key=client_key[0])
    lab.start()
    stack = ProjectStack(tmp_path / "project", "site")
    settings = {**migration_settings(lab, ports), "haDrill": {"enabled": False}}  # the Engine VM stays on deploy
    stack.configure(
        settings,
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": "root-Pa55",
        },
    )
    stack.settings = settings
    return lab, stack


def unit(lab):
    client = lab.ssh("deploy")
    try:
        _, out, _ = run(client, f"systemctl show {UNIT} --property=LoadState,SubState,ActiveState")
        return dict(line.split("=", 1) for line in out.splitlines())
    finally:
        client.close()


def deploys_started(lab):
    return [c["command"] for c in lab.commands("deploy") if c["command"].startswith("systemd-run")]


def test_a_failed_restore_pauses_the_deploy_and_up_says_how_to_go_on(tmp_path, client_key):
    # engine-backup's verifyVersion: a 4.5.6 backup is newer than the appliance's 4.5.5 Engine, which the
    # preflight cannot see (the appliance's manifest is not on disk: a warning), so the restore fails
    def older_appliance(data):
        data["ovirt"].update(appliance_engine_version="4.5.5")
        ship_appliance(next(h for h in data["hosts"] if h["name"] == "deploy"), "4.5.5", docs=False)

    lab, stack = migration(tmp_path, client_key, older_appliance)
    try:
        with pytest.raises(auto.errors.CommandError) as paused:
            stack.up()
        text = str(paused.value)
        assert "paused after a failed step and waits up to 24 hours" in text
        assert "Backup was created by version '4.5.6' and can not be restored using the installed version 4.5.5" in text
        lock = next(w for w in text.split() if w.endswith("_he_setup_lock"))
        assert unit(lab)["SubState"] == "running", "the paused deploy is left waiting for the administrator"
        client = lab.ssh("deploy")
        assert run(client, f"rm -f {lock}")[0] == 0  # the administrator lets it go on without fixing it
        client.close()
        with pytest.raises(auto.errors.CommandError) as failed:
            stack.up()  # follows the same deploy to its end
        assert "deploy: `hosted-engine --deploy` failed (" in str(failed.value)
        assert "the backup was not restored during the pause" in str(failed.value)
        assert len(deploys_started(lab)) == 1
        assert unit(lab)["LoadState"] == "not-found", "the failed unit was reset for the next try"
        assert "ovirt-she-answers.conf" not in run(lab.ssh("deploy"), "ls -1 /root/backup")[1], "answers removed"
    finally:
        lab.stop()


def cleanups(lab):
    return [c["command"] for c in lab.commands("deploy") if c["command"].startswith("ovirt-hosted-engine-cleanup")]


def test_a_failed_deploy_is_deployed_again_only_when_asked_after_the_cleanup(tmp_path, client_key):
    lab, stack = migration(tmp_path, client_key)
    try:
        lab.inject_fault("deploy-task", host="deploy", task="Wait for the host to be up", msg="Host is not up")
        with pytest.raises(auto.errors.CommandError) as failed:
            stack.up()
        assert "deploy: `hosted-engine --deploy` failed (exit status 1)" in str(failed.value)
        assert "set `hostedEngine.retryFailedDeploy: true` and run `pulumi up`" in str(failed.value)
        record = lab.host_state("deploy")["files"]
        assert "/root/backup/engine-lab.backup.deploy-failed" in record, "the failure is recorded beside the backup"

        for attempt in (stack.preview, stack.up):  # not asked: refused at preview, nothing runs
            with pytest.raises(auto.errors.CommandError) as refused:
                attempt()
            text = " ".join(str(refused.value).split())
            assert "a deploy failed on the deployment host (deploy) before (exit status 1)" in text, text
        assert len(deploys_started(lab)) == 1 and cleanups(lab) == []

        stack.configure({"hostedEngine": {**stack.settings["hostedEngine"], "retryFailedDeploy": True}})
        said = " ".join(stack.preview().stdout.split())
        assert "`hostedEngine.retryFailedDeploy` is set: `up` runs `ovirt-hosted-engine-cleanup -q` on deploy" in said
        assert "cleanup, asked by `hostedEngine.retryFailedDeploy` after a failed deploy" in said
        assert cleanups(lab) == [], "the preview cleans nothing"
        result = stack.up()
        assert result.summary.result == "succeeded"
        assert cleanups(lab) == ["ovirt-hosted-engine-cleanup -q"] and len(deploys_started(lab)) == 2
        ran = [c["command"] for c in lab.commands("deploy")]
        assert ran.index("ovirt-hosted-engine-cleanup -q") < max(
            i for i, c in enumerate(ran) if c.startswith("systemd-run")
        )
        assert "/root/backup/engine-lab.backup.deploy-failed" not in lab.host_state("deploy")["files"]
        window = result.outputs["outageWindow"].value["measured"]
        assert [s["step"] for s in window["steps"] if s["step"] == "cleanup"] == ["cleanup"]
        assert "the bootstrap VM" not in str(lab.host_state("deploy")["ovirt"]["he"]), "nothing left behind"
    finally:
        lab.stop()


def test_a_dropped_session_during_the_deploy_costs_nothing(tmp_path, client_key):
    lab, stack = migration(tmp_path, client_key)
    try:
        lab.inject_fault("drop", host="deploy", match="^tail ", after_bytes=0, times=3)
        result = stack.up()
        assert result.summary.result == "succeeded"
        drops = [f for f in lab.faults("deploy") if f["fault"] == "drop"]
        assert len(drops) == 3, "the provider's reads of the output were dropped, and read again"
        assert len(deploys_started(lab)) == 1 and unit(lab)["LoadState"] == "not-found"

        # The Engine VM down for maintenance: a refresh keeps the deployment, it is not "gone".
        client = lab.ssh("deploy")
        for command in ("hosted-engine --set-maintenance --mode=global", "hosted-engine --vm-shutdown"):
            assert run(client, command)[0] == 0
        stack.stack.refresh()
        assert "HostedEngineDeployment" in stack.export()
        for command in ("hosted-engine --vm-start", "hosted-engine --set-maintenance --mode=none"):
            assert run(client, command)[0] == 0
        client.close()
    finally:
        lab.stop()
