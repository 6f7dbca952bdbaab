"""systemctl mask/unmask and poweroff on a lab host, as systemd 239 (EL8) answers them."""

import time

import paramiko
import pytest

from lab.testing import LabProcess, run


@pytest.fixture
def fresh_lab(tmp_path, client_key):
    with LabProcess(tmp_path / "lab", authorized_keys=[client_key[1]], client_key=client_key[0]) as lab:
        yield lab


def test_a_masked_unit_refuses_start_and_enable_until_unmasked(fresh_lab):
    client = fresh_lab.ssh("engine")
    try:
        assert run(client, "systemctl mask --now ovirt-engine") == (
            0,
            "",
            "Created symlink /etc/systemd/system/ovirt-engine.service \u2192 /dev/null.\n",
        )
        assert run(client, "systemctl is-active ovirt-engine") == (3, "inactive\n", "")
        assert run(client, "systemctl is-enabled ovirt-engine") == (1, "masked\n", "")
        assert run(client, "systemctl start ovirt-engine") == (
            1,
            "",
            "Failed to start ovirt-engine.service: Unit ovirt-engine.service is masked.\n",
        )
        assert run(client, "systemctl enable ovirt-engine") == (
            1,
            "",
            "Failed to enable unit: Unit file /etc/systemd/system/ovirt-engine.service is masked.\n",
        )
        assert run(client, "systemctl show ovirt-engine -p LoadState,UnitFileState") == (
            0,
            "LoadState=masked\nUnitFileState=masked\n",
            "",
        )
        assert run(client, "systemctl unmask ovirt-engine") == (
            0,
            "",
            "Removed /etc/systemd/system/ovirt-engine.service.\n",
        )
        assert run(client, "systemctl start ovirt-engine")[0] == 0
    finally:
        client.close()


def test_a_powered_off_host_answers_no_more(fresh_lab):
    client = fresh_lab.ssh("backup")
    assert run(client, "systemctl poweroff")[0] == 0
    deadline = time.monotonic() + 5
    while client.get_transport().is_active():
        assert time.monotonic() < deadline, "the session outlived the power-off"
        time.sleep(0.05)
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        fresh_lab.ssh("backup")
    fresh_lab.stop()
    fresh_lab.start()  # still off after a lab restart: the state says so
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        fresh_lab.ssh("backup")
