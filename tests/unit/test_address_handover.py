"""The FQDN's address handed over to the Engine VM: the handover's plan from what was found, the parsers it shares
with the preflight, and the preflight's verdict from the hosts' answers (facts in, findings out, no host)."""

from types import SimpleNamespace

import pytest

from components.preflight import engine_address
from components.preflight.facts import Findings
from providers import host_facts
from providers.address_handover import plan
from providers.ssh import Result

IP_ADDR = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "2: eth0    inet 192.0.2.10/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever\n"
)
PING = (*host_facts.PING, "192.0.2.10")


def test_the_original_machine_holding_the_address_is_powered_off_only_when_the_stack_says_so():
    assert plan("power-off", held_by_original=True, answers=True) == ["power-off", "wait-free"]
    for mode in ("none", None):
        with pytest.raises(ValueError, match="set `hostedEngine.addressHandover: power-off`"):
            plan(mode, held_by_original=True, answers=True)


def test_an_address_another_machine_answers_at_is_refused_and_a_free_one_needs_nothing():
    with pytest.raises(ValueError, match="a machine other than the original Engine answers"):
        plan("power-off", held_by_original=False, answers=True)
    assert plan("power-off", held_by_original=False, answers=False) == []
    assert plan("none", held_by_original=False, answers=False) == []


def test_an_original_machine_that_cannot_be_asked_while_the_address_answers_is_not_taken_for_another():
    with pytest.raises(ValueError, match="the original Engine machine cannot be asked over SSH"):
        plan("power-off", held_by_original=None, answers=True)
    assert plan("power-off", held_by_original=None, answers=False) == []  # off already: nothing to do


def test_ip_addr_and_getent_are_read_alike_by_the_handover_and_the_preflight():
    assert [str(i) for i in host_facts.ipv4_interfaces(IP_ADDR)] == ["192.0.2.10/24"]
    assert host_facts.resolved_address("192.0.2.10      engine.lab.example\n") == "192.0.2.10"
    assert host_facts.resolved_address("") is None


class Hosts:
    """The preflight's Site, answering from a table: (host, argv) -> Result; hosts in `down` do not connect."""

    def __init__(self, answers, down=()):
        self.answers, self.down = answers, set(down)

    def conn(self, name):
        return None if name in self.down else object()

    def run(self, name, *argv):
        return None if name in self.down else self.answers.get((name, argv), Result(127, "", "not in the table"))


def site(mode=None, static=None):
    he = {"fqdn": "engine.lab.example", "addressHandover": mode, "vm": {"staticCIDR": static}}
    return SimpleNamespace(
        migration=SimpleNamespace(original_engine="engine", deployment_host="deploy", hosted_engine=he)
    )


def findings_for(site_, hosts):
    findings = Findings()
    engine_address.check(site_, hosts, {"engine_address": "192.0.2.10"}, findings, None, {})
    return findings


HELD = {("engine", tuple(host_facts.IPV4_ADDRESSES)): Result(0, IP_ADDR, "")}
ELSEWHERE = {
    ("engine", tuple(host_facts.IPV4_ADDRESSES)): Result(0, IP_ADDR.replace("192.0.2.10/", "192.0.2.11/"), ""),
    ("deploy", PING): Result(0, "64 bytes from 192.0.2.10: icmp_seq=1 ttl=64 time=0.045 ms\n", ""),
}


def test_the_preview_names_the_setting_when_the_original_machine_holds_the_address():
    found = findings_for(site(), Hosts(HELD))
    assert len(found.errors) == 1 and "which the original Engine machine engine holds" in found.errors[0]
    assert "Set `hostedEngine.addressHandover: power-off`" in found.errors[0]
    noted = findings_for(site("power-off"), Hosts(HELD))
    assert noted.errors == [] and "is answered by the original Engine machine engine today" in noted.warnings[0]


def test_the_preview_refuses_an_address_that_another_machine_answers_at():
    found = findings_for(site("none"), Hosts(ELSEWHERE))
    assert len(found.errors) == 1 and "answers `ping` from deploy but is not an address of" in found.errors[0]
    free = {**ELSEWHERE, ("deploy", PING): Result(1, "1 packets transmitted, 0 received, 100% packet loss\n", "")}
    assert findings_for(site("none"), Hosts(free)).errors == []


def test_a_static_address_other_than_the_fqdns_is_refused_at_preview():
    found = findings_for(site("power-off", static="192.0.2.60/24"), Hosts(HELD))
    assert len(found.errors) == 1 and "`hostedEngine.vm.staticCIDR` gives the Engine VM 192.0.2.60" in found.errors[0]
    assert findings_for(site("power-off", static="192.0.2.10/24"), Hosts(HELD)).errors == []


def test_an_original_machine_that_does_not_answer_is_left_to_the_connections_verdict():
    assert findings_for(site(), Hosts(HELD, down={"engine"})).errors == []
