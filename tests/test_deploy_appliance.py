"""The deploy's packages and appliance at preview (components/preflight/deploy_appliance.py), with the lab's deploy
(lab/commands/appliance_install.py) as the witness: a site that breaks them fails the preview, changing nothing, and
fails the deploy at the same task."""

import pytest
from pulumi import automation as auto

from lab import ovirt_site
from lab.testing import reserved_port
from tests.harness import ANSWERS, ProjectStack, migration_settings, put, remote, restore_deploy
from tests.test_preflight import make_stack, secrets
from tests.test_preflight_restore import failed_preview, lab_for, passed_preview

OFFLINE = {**ANSWERS, "OVEHOSTED_CORE/ansibleUserExtraVars": "str:he_offline_deployment=true"}
IMAGE = ovirt_site.appliance_site_entries("4.5.6")["files"][1]["path"]  # the default deploy host's OVA


def deploy_host(data):
    return next(h for h in data["hosts"] if h["name"] == "deploy")


def offline(settings):
    settings["hostedEngine"]["offlineDeployment"] = True


def quick_pause(data):
    data.setdefault("ovirt", {})["pause_seconds"] = 0.2


def test_repositories_that_do_not_answer_fail_the_preview_unless_the_deploy_is_offline(tmp_path_factory, client_key):
    def modify(data, _):
        deploy_host(data)["repos"] = [{"id": "ovirt-45-upstream", "name": "oVirt upstream", "answers": False}]

    with lab_for(tmp_path_factory, client_key, "repos-down", modify) as lab:
        text = failed_preview(make_stack(tmp_path_factory, lab, client_key), lab)
        assert (
            "the deployment host's repositories do not answer (`dnf list --quiet ovirt-hosted-engine-setup` on "
            "deploy: Error: Failed to download metadata for repo 'ovirt-45-upstream': Cannot download repomd.xml"
        ) in text
        assert "set `hostedEngine.offlineDeployment: true`" in text
        passed_preview(make_stack(tmp_path_factory, lab, client_key, offline), lab)
        status, out, _ = restore_deploy(lab, hand_over=False)
        assert status == 1 and "Failed to download metadata for repo 'ovirt-45-upstream'" in out, out
        assert out.index("Install oVirt Hosted Engine packages") < out.index("Failed to download metadata"), out
        status, out, _ = restore_deploy(lab, answers=OFFLINE)
        assert status == 0 and "Failed to download metadata" not in out, out


def test_collection_3_2_2_uses_the_appliance_named_for_the_distribution(tmp_path_factory, client_key):
    """An el8 host with 4.5.5's `ovirt-engine-appliance` and collection 3.2.2: the role wants
    ovirt-engine-appliance-centos8, which nothing offers."""

    def modify(data, _):
        quick_pause(data)
        data["ovirt"]["collection_version"] = "3.2.2"

    with lab_for(tmp_path_factory, client_key, "collection-322", modify) as lab:
        text = failed_preview(make_stack(tmp_path_factory, lab, client_key), lab)
        assert (
            "the deploy installs the appliance package ovirt-engine-appliance-centos8 on the deployment host (deploy), "
            "which neither has it nor finds it in its repositories"
        ) in text
        status, out, _ = restore_deploy(lab, hand_over=False)
        assert status == 1 and '"msg": "Failed to install some of the specified packages"' in out, out


def test_an_appliance_the_deploy_must_install_is_said_and_installed(tmp_path_factory, client_key):
    def modify(data, _):
        ovirt_site.ship_appliance(deploy_host(data), None)

    with lab_for(tmp_path_factory, client_key, "no-appliance", modify) as lab:
        output = passed_preview(make_stack(tmp_path_factory, lab, client_key), lab)
        assert "the appliance package ovirt-engine-appliance is not installed on the deployment host (deploy)" in output
        assert "`up` installs it (`dnf install ovirt-engine-appliance`, 1.5 GB or more) before the original" in output
        text = failed_preview(make_stack(tmp_path_factory, lab, client_key, offline), lab)
        assert "no ovirt-engine-appliance is installed on the deployment host (deploy), and " in text
        assert remote(lab, "deploy", "rpm -q ovirt-engine-appliance")[0] == 1
        status, out, _ = restore_deploy(lab)
        assert status == 0, out
        assert remote(lab, "deploy", "rpm -q ovirt-engine-appliance") == (
            0,
            "ovirt-engine-appliance-4.5-20240101000000.1.el8.x86_64\n",
            "",
        )
        assert remote(lab, "deploy", f"sha1sum {IMAGE}")[0] == 0


def test_up_installs_the_appliance_before_the_backup_and_refuses_its_engine_before_the_stop(
    tmp_path_factory, client_key
):
    """The repositories offer an appliance holding Engine 4.5.5; the original runs 4.5.6, which it cannot restore."""

    def modify(data, _):
        ovirt_site.ship_appliance(deploy_host(data), None)
        deploy_host(data)["available_appliances"] = [{"engine_version": "4.5.5"}]

    with lab_for(tmp_path_factory, client_key, "older-offer", modify) as lab:
        stack = make_stack(tmp_path_factory, lab, client_key)
        with pytest.raises(auto.errors.CommandError) as failed:
            stack.up()
        text = " ".join(str(failed.value).split())
        assert (
            "engine: would be backed up at version 4.5.6, which the appliance's Engine 4.5.5 does not restore (the "
            "backup's 4.5.6 is newer than the installed 4.5.5" in text
        ), text
        assert "Nothing was stopped." in text
        assert lab.host_state("engine")["services"]["ovirt-engine"]["active"] is True
        ran = [(c["host"], c["command"]) for c in lab.started()]
        installed = ran.index(("deploy", "dnf install -y ovirt-engine-appliance"))
        assert not [c for c in ran[installed:] if c[1].startswith(("systemctl stop ovirt-engine", "engine-backup"))]
        assert remote(lab, "deploy", "rpm -q ovirt-engine-appliance")[0] == 0


def test_up_installs_the_offered_appliance_once_before_the_stop_and_the_deploy_uses_it(tmp_path_factory, client_key):
    """The repositories offer the appliance, nothing installed it: `up` installs it while the original Engine still
    runs, and the deploy's own install_appliance.yml finds it there (one appliance package on the host)."""

    ports = {"engine_api_new_port": reserved_port(), "engine_vm_ssh_port": reserved_port()}

    def modify(data, _):
        ovirt_site.ship_appliance(deploy_host(data), None)
        data.setdefault("ovirt", {}).update(ports)

    with lab_for(tmp_path_factory, client_key, "offered", modify) as lab:
        stack = ProjectStack(tmp_path_factory.mktemp("project"), "offered")
        stack.configure(migration_settings(lab, ports), secrets(client_key))
        assert stack.up().summary.result == "succeeded"
        ran = [(c["host"], c["command"]) for c in lab.started()]
        installed = ran.index(("deploy", "dnf install -y ovirt-engine-appliance"))
        assert installed < ran.index(("engine", "systemctl stop ovirt-engine"))
        assert installed < next(i for i, (_, c) in enumerate(ran) if c.startswith("hosted-engine --deploy"))
        packages = lab.host_state("deploy")["packages"]
        assert [p for p in packages if p.startswith("ovirt-engine-appliance")] == ["ovirt-engine-appliance"]


@pytest.mark.parametrize("where", ["preview", "deploy"])
def test_a_corrupted_appliance_image_stops_both(tmp_path_factory, client_key, where):
    with lab_for(tmp_path_factory, client_key, "corrupted", lambda data, _: quick_pause(data)) as lab:
        client = lab.ssh("deploy")
        try:
            put(client, IMAGE, b"not the appliance")
        finally:
            client.close()
        if where == "preview":
            text = failed_preview(make_stack(tmp_path_factory, lab, client_key), lab)
            assert f"so the deploy would stop with `{IMAGE} is corrupted (sha1sum)`" in text
            assert "`dnf reinstall ovirt-engine-appliance`" in text
        else:
            status, out, _ = restore_deploy(lab, hand_over=False)
            assert status == 1 and f'"msg": "{IMAGE} is corrupted (sha1sum)"' in out, out
