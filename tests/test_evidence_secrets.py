"""Every secret the stack sets is scanned out of the evidence archive (site_config.SECRET_SETTINGS), the CHAP
passwords too: a log on the deployment host that carries one stops the archive, naming the file."""

import pytest
from pulumi import automation as auto

from lab.testing import LabProcess, reserved_port, site_variant
from tests.harness import ProjectStack, migration_settings
from tests.test_preflight import secrets

CHAP = "chap-Discover-Secret-77"
PLANTED = "/var/log/ovirt-hosted-engine-setup/iscsi-login.log"


def test_a_log_carrying_a_chap_password_stops_the_evidence_archive(tmp_path_factory, client_key):
    ports = {"engine_api_new_port": reserved_port(), "engine_vm_ssh_port": reserved_port()}

    def modify(data):
        data.setdefault("ovirt", {}).update(ports)
        deploy = next(h for h in data["hosts"] if h["name"] == "deploy")
        deploy.setdefault("files", []).append({"path": PLANTED, "mode": 0o600, "content": f"iscsiadm: {CHAP}\n"})

    site = site_variant(tmp_path_factory.mktemp("chap") / "site.yaml", modify)
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        stack = ProjectStack(tmp_path_factory.mktemp("project"), "chap")
        stack.configure(migration_settings(lab, ports), {**secrets(client_key), "iscsiDiscoverPassword": CHAP})
        with pytest.raises(auto.errors.CommandError) as failed:
            stack.up()
        text = " ".join(str(failed.value).split())
        assert f"not writing the evidence archive: deploy{PLANTED} holds a secret of the stack" in text, text
        assert CHAP not in text
        assert "evidence-engine-lab.tar.gz" not in " ".join(lab.host_state("backup")["files"])
