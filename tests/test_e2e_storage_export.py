"""StorageExport end to end: the real Pulumi engine, the real SSH client, the lab's storage server.

The steps share one lab and one stack and run in order, as an administrator's would; the clash
case needs a site where gid 36 is taken, so it gets its own lab.
"""

import pytest
from pulumi import automation as auto

from lab.testing import LabProcess, site_variant
from tests import harness
from tests.harness import assert_no_stack_file_beside_project, changing_commands, lab_config, remote

DATA = {"host": "storage", "path": "/exports/data", "clients": "*", "options": "rw,sync,no_subtree_check"}
# Not in the site's /etc/exports and not on disk yet: the directory and a drop-in are made.
ISO = {
    "host": "storage",
    "path": "/exports/iso",
    "clients": "192.0.2.0/24",
    "options": "rw,sync,no_subtree_check,anonuid=36,anongid=36",
}
DROP_IN = "/etc/exports.d/ovirt-exports-iso.exports"


@pytest.fixture(scope="module")
def stack(lab_stack):
    lab_stack.configure(
        {**lab_stack.lab_settings, "storageExports": [DATA, ISO]}, {"sshPrivateKey": lab_stack.private_key}
    )
    return lab_stack


def test_preview_plans_a_create_and_changes_nothing(stack, lab):
    before = len(lab.commands())
    result = stack.preview()
    assert result.change_summary.get("create") == 4  # stack, component, two exports
    assert "StorageExport" in result.stdout
    assert lab.commands()[before:] == []
    assert_no_stack_file_beside_project(stack)


def test_up_makes_the_accounts_owns_and_exports(stack, lab):
    result = stack.up()
    assert result.summary.result == "succeeded"
    assert remote(lab, "storage", "getent group kvm") == (0, "kvm:x:36:\n", "")
    assert remote(lab, "storage", "id vdsm")[1] == "uid=36(vdsm) gid=36(kvm) groups=36(kvm)\n"
    assert remote(lab, "storage", "stat -c '%u %g %a' /exports/data /exports/iso") == (0, "36 36 755\n36 36 755\n", "")
    status, listed, _ = remote(lab, "storage", "exportfs -v")
    assert status == 0
    assert (
        "/exports/data \t<world>(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash)\n"
        in listed
    )
    assert "/exports/iso  \t192.0.2.0/24(sync,wdelay,hide,no_subtree_check,anonuid=36,anongid=36,sec=sys,rw," in listed
    assert (
        remote(lab, "storage", f"cat {DROP_IN}")[1]
        == "/exports/iso 192.0.2.0/24(rw,sync,no_subtree_check,anonuid=36,anongid=36)\n"
    )
    ran = changing_commands(lab, "storage")
    assert ran.count("groupadd kvm -g 36") == 1 and ran.count("useradd vdsm -u 36 -g 36") == 1
    assert "chown -R 36:36 /exports/data" in ran and "mkdir -p -- /exports/iso" in ran
    assert "chmod 0755 /exports/data" not in ran  # it was 0755 already
    assert "exportfs -r" in ran


def test_second_up_changes_nothing(stack, lab):
    before = len(changing_commands(lab, "storage"))
    result = stack.up()
    assert result.summary.resource_changes == {"same": 4}
    assert changing_commands(lab, "storage")[before:] == []


def test_a_mode_change_on_the_host_shows_in_refresh_and_up_runs_only_chmod(stack, lab):
    assert remote(lab, "storage", "chmod 0700 /exports/data")[0] == 0
    refreshed = stack.stack.refresh()
    assert refreshed.summary.resource_changes.get("update") == 1
    assert '"mode": "700"' in stack.export()
    before = len(changing_commands(lab, "storage"))
    result = stack.up()
    assert result.summary.resource_changes.get("update") == 1
    assert changing_commands(lab, "storage")[before:] == ["chmod 0755 /exports/data"]
    assert remote(lab, "storage", "stat -c '%u %g %a' /exports/data")[1] == "36 36 755\n"


def test_destroy_unexports_but_keeps_the_data_and_the_accounts(stack, lab):
    remote(lab, "storage", "install -D /dev/stdin /exports/data/keep.txt")
    stack.stack.destroy()
    status, listed, _ = remote(lab, "storage", "exportfs -v")
    assert status == 0 and "/exports/data" not in listed and "/exports/iso" not in listed
    assert remote(lab, "storage", f"cat {DROP_IN}")[0] == 1
    assert "/exports/data" not in remote(lab, "storage", "cat /etc/exports")[1]
    assert "/exports/hosted_engine" in remote(lab, "storage", "cat /etc/exports")[1]
    assert remote(lab, "storage", "stat -c '%u %g %a' /exports/data /exports/data/keep.txt")[0] == 0
    assert remote(lab, "storage", "getent passwd vdsm")[0] == 0 and remote(lab, "storage", "getent group kvm")[0] == 0


def _gid_36_taken(site):
    storage = next(h for h in site["hosts"] if h["name"] == "storage")
    storage.setdefault("groups", []).append({"name": "backupusers", "gid": 36})


def test_gid_36_taken_fails_up_saying_so_and_changes_nothing(tmp_path, client_key):
    site = site_variant(tmp_path / "site.yaml", _gid_36_taken)
    with LabProcess(tmp_path / "lab", site=site, authorized_keys=[client_key[1]], client_key=client_key[0]) as lab:
        other = harness.ProjectStack(tmp_path / "project")
        other.configure({**lab_config(lab), "storageExports": [DATA]}, {"sshPrivateKey": client_key[0].read_text()})
        with pytest.raises(auto.errors.CommandError) as failure:
            other.up()
        message = str(failure.value)
        assert "storage: gid 36 belongs to the group 'backupusers', but oVirt needs it for kvm" in message
        assert "nothing was changed" in message
        assert changing_commands(lab, "storage") == []
        assert remote(lab, "storage", "stat -c '%u %g %a' /exports/data")[1] == "0 0 755\n"
