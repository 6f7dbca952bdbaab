"""MultipathOverride end to end: the real Pulumi engine, the real SSH client, a lab host.

The steps share one lab and one stack and run in order, as an administrator's would.
"""

import pytest
from pulumi import automation as auto

from lab.testing import run
from tests.harness import assert_no_stack_file_beside_project, changing_commands

PATH = "/etc/multipath/conf.d/90-vendor.conf"


def override(**defaults):
    return {
        "host": "host1",
        "file": "90-vendor.conf",
        "settings": {
            "defaults": defaults,
            "devices": [{"vendor": "LIO-ORG", "product": ".*", "path_checker": "tur"}],
        },
    }


@pytest.fixture(scope="module")
def stack(lab_stack):
    def configure(*overrides):
        lab_stack.configure(
            {**lab_stack.lab_settings, "multipathOverrides": list(overrides)},
            {"sshPrivateKey": lab_stack.private_key},
        )

    lab_stack.configure_overrides = configure
    configure(override(max_fds=4096))
    return lab_stack


def read_remote(lab, path):
    client = lab.ssh("host1")
    try:
        return run(client, f"cat {path}")
    finally:
        client.close()


def test_preview_plans_a_create_and_changes_nothing(stack, lab):
    before = len(lab.commands())
    result = stack.preview()
    assert result.change_summary.get("create") == 3  # stack, component, the drop-in
    assert "MultipathOverride" in result.stdout
    assert lab.commands()[before:] == []
    assert_no_stack_file_beside_project(stack)


def test_up_writes_the_drop_in_and_reloads_multipathd(stack, lab):
    result = stack.up()
    assert result.summary.result == "succeeded"
    status, content, _ = read_remote(lab, PATH)
    assert status == 0
    assert "defaults {\n    max_fds 4096\n}" in content
    ran = changing_commands(lab, "host1")
    assert "systemctl reload multipathd" in ran
    assert not any("restart" in c for c in ran)
    status, config, _ = run(lab.ssh("host1"), "multipathd show config")
    assert "max_fds 4096" in config


def test_second_up_changes_nothing(stack, lab):
    before = len(changing_commands(lab, "host1"))
    result = stack.up()
    assert result.summary.resource_changes == {"same": 3}
    assert changing_commands(lab, "host1")[before:] == []


def test_changing_one_setting_previews_an_update_naming_it(stack, lab):
    stack.configure_overrides(override(max_fds=8192))
    result = stack.preview()
    assert result.change_summary == {"same": 2, "update": 1}
    assert "max_fds" in result.stdout and "8192" in result.stdout
    stack.up()
    assert "max_fds 8192" in read_remote(lab, PATH)[1]


def test_an_edit_on_the_host_shows_in_refresh_and_up_puts_it_back(stack, lab):
    client = lab.ssh("host1")
    with client.open_sftp() as sftp, sftp.open(PATH, "w") as remote:
        remote.write("defaults {\n    max_fds 1024\n}\n")
    client.close()
    refreshed = stack.stack.refresh()
    assert refreshed.summary.resource_changes.get("update") == 1
    state = stack.export()
    assert '"max_fds": "1024"' in state
    result = stack.up()
    assert result.summary.resource_changes.get("update") == 1
    assert "max_fds 8192" in read_remote(lab, PATH)[1]


def test_overriding_user_friendly_names_fails_at_preview_saying_why(stack, lab):
    stack.configure_overrides(override(user_friendly_names="yes"))
    before = len(lab.commands())
    with pytest.raises(auto.errors.CommandError) as failure:
        stack.preview()
    message = str(failure.value)
    assert "defaults.user_friendly_names` must not be overridden" in message
    assert "same name" in message
    assert lab.commands()[before:] == []
    stack.configure_overrides(override(max_fds=8192))


def test_destroy_removes_the_drop_in_and_reloads(stack, lab):
    before = len(changing_commands(lab, "host1"))
    stack.stack.destroy()
    status, _, err = read_remote(lab, PATH)
    assert status == 1 and "No such file or directory" in err
    ran = changing_commands(lab, "host1")[before:]
    assert f"rm -f -- {PATH}" in ran and ran[-1] == "systemctl reload multipathd"


def test_no_private_key_in_state_or_stack_file(stack, lab):
    stack.up()
    state, stack_file = stack.export(), stack.stack_file.read_text()
    assert '"privateKey": {' in state and "ciphertext" in state
    for line in stack.private_key.splitlines()[2:-1]:  # the lines unique to this key
        assert line not in state and line not in stack_file
