"""AddressHandover against the lab (real SSH, the lab's hosts): the original Engine machine that holds the FQDN's
address is powered off and recorded beside the backup, after which nothing answers there; `none` refuses with the
machine untouched; the way back refuses until the machine holds the address again."""

import json

import pytest

from components.site_config import HostConfig, SiteConfig
from lab.testing import LabProcess
from providers.address_handover import AddressHandoverProvider, record_path
from providers.errors import StepError
from tests.harness import remote

RECORD = record_path("/root", "engine.backup")


@pytest.fixture
def fresh_lab(tmp_path, client_key):
    with LabProcess(tmp_path / "lab", authorized_keys=[client_key[1]], client_key=client_key[0]) as lab:
        yield lab


def props(lab, client_key, mode):
    pinned = {n: HostConfig(n, "127.0.0.1", lab.port(n), lab.info["hosts"][n]["host_key"]) for n in lab.info["hosts"]}
    site = SiteConfig("root", "", pinned)
    return {
        "engine": site.connection("engine"),
        "deployHost": site.connection("deploy"),
        "backupServer": site.connection("backup"),
        "privateKey": client_key[0].read_text(),
        "fqdn": "engine.lab.example",
        "mode": mode,
        "record": RECORD,
        "pollInterval": 0.1,
    }


def test_power_off_frees_the_address_records_it_first_and_the_way_back_waits_for_the_machine(fresh_lab, client_key):
    given = props(fresh_lab, client_key, "power-off")
    assert remote(fresh_lab, "deploy", "ping -c 1 -W 2 192.0.2.10")[0] == 0
    done = AddressHandoverProvider().create(given).outs
    assert (done["address"], done["originalEngine"]) == ("192.0.2.10", "powered-off")
    assert fresh_lab.host_state("engine")["powered_off"] is True
    status, out, _ = remote(fresh_lab, "deploy", "ping -c 1 -W 2 192.0.2.10")
    assert status == 1 and "1 packets transmitted, 0 received, 100% packet loss" in out
    status, record, _ = remote(fresh_lab, "backup", f"cat {RECORD}")
    assert status == 0 and json.loads(record)["originalEngine"] == "powered-off"
    with pytest.raises(StepError) as refused:
        AddressHandoverProvider().delete("id", done)
    assert "was powered off by the address handover and does not hold 192.0.2.10 again" in str(refused.value)
    assert "Power it on from its console or power management" in str(refused.value)
    again = AddressHandoverProvider().create(given).outs  # a run killed after the power-off, before its state
    assert (again["originalEngine"], again["handedOverAt"]) == ("powered-off", done["handedOverAt"])
    fresh_lab.inject_fault("power-on", host="engine")  # the administrator, at its console
    AddressHandoverProvider().delete("id", done)
    assert json.loads(remote(fresh_lab, "backup", f"cat {RECORD}")[1])["originalEngine"] == "powered-on-again"


def test_none_refuses_while_the_original_machine_holds_the_address_and_changes_nothing(fresh_lab, client_key):
    with pytest.raises(StepError) as refused:
        AddressHandoverProvider().create(props(fresh_lab, client_key, "none"))
    assert "engine.lab.example resolves to 192.0.2.10: the original Engine machine holds the address" in str(
        refused.value
    )
    assert "set `hostedEngine.addressHandover: power-off`" in str(refused.value)
    assert fresh_lab.host_state("engine")["powered_off"] is False
    assert remote(fresh_lab, "backup", f"cat {RECORD}")[0] == 1
