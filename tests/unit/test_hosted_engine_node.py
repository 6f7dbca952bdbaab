"""HostedEngineNode: the conversion's plan over the host as the Engine shows it (tests/unit/cases/hosted_engine_node/:
status and readings in, steps out), the refused maintenance's sentence, the checks and the diff."""

import ovirtsdk4
import ovirtsdk4.types as types
import pytest

from providers import hosted_engine_node
from providers.errors import StepError
from providers.hosted_engine_node import Facts, HostedEngineNodeProvider, plan
from tests.harness import cases


@pytest.mark.parametrize("case", cases("hosted_engine_node"))
def test_one_host_at_a_time_is_reinstalled_only_when_it_is_not_yet_what_is_wanted(case):
    facts = Facts(
        "host1", types.HostStatus(case["status"]), case["configured"], case["is_node"], tuple(case["others_out"])
    )
    if "refused" in case:
        with pytest.raises(StepError) as refused:
            plan(facts, case["deploy"])
        assert str(refused.value).startswith(case["refused"])
    else:
        assert plan(facts, case["deploy"]) == case["steps"]


PROPS = {"host": "host1", "connection": {"name": "host1"}, "engine": {"url": "https://engine/ovirt-engine/api"}}


def refusal(detail):
    return ovirtsdk4.Error("refused", code=409, fault=types.Fault(detail=detail))


def test_a_refused_maintenance_says_what_the_engine_said_and_the_ways_on():
    host = types.Host(name="host1.example.com", status=types.HostStatus.UP)
    said = hosted_engine_node._maintenance_refused(PROPS, host, refusal("[Cannot switch Host to Maintenance mode.]"))
    assert str(said) == (
        'host1.example.com: the Engine refused to put host1.example.com in maintenance ("Cannot '
        'switch Host to Maintenance mode.") and nothing changed on the site (host1.example.com stays '
        "up). Do what the Engine asks, or leave host1 out of `hostedEngineNodes`, then run `pulumi up` "
        "again."
    )


def test_a_maintenance_refused_for_pinned_vms_names_them(monkeypatch):
    monkeypatch.setattr(hosted_engine_node, "_pinned_vms", lambda props, host: [])  # the API does not say
    host = types.Host(name="host1", status=types.HostStatus.UP, hosted_engine=types.HostedEngine(configured=True))
    detail = (
        "[Cannot switch Host to Maintenance mode. Host still has non-migratable VMs running on it. "
        "The non-migratable VMs are: db1 , db2.]"
    )
    said = hosted_engine_node._maintenance_refused(PROPS, host, refusal(detail))
    assert "because it runs VMs that cannot migrate away: db1, db2;" in str(said)
    assert str(said).endswith("or keep host1 in `hostedEngineNodes` (it stays a node), then run `pulumi up` again.")


@pytest.mark.parametrize(
    "change, failing",
    [
        ({}, []),
        ({"installTimeout": 0}, ["installTimeout"]),
        ({"maintenanceTimeout": "10"}, ["maintenanceTimeout"]),
    ],
)
def test_check_wants_positive_timeouts(change, failing):
    props = {"maintenanceTimeout": 1800, "installTimeout": 3600, **change}
    assert [f.property for f in HostedEngineNodeProvider().check({}, props).failures] == failing


OLD = {**PROPS, "configured": True, "score": 3400}


@pytest.mark.parametrize(
    "olds, news, changes, replaces",
    [
        (OLD, OLD, False, []),
        (OLD, {**OLD, "reboot": False}, False, []),
        ({**OLD, "configured": False}, OLD, True, []),  # refresh found it undeployed behind the stack's back
        ({**OLD, "score": 0}, OLD, True, []),
        ({**OLD, "score": None}, OLD, True, []),
        (OLD, {**OLD, "host": "host2"}, True, ["host"]),
        (OLD, {**OLD, "engine": {"url": "https://other/ovirt-engine/api"}}, True, ["engine"]),
    ],
)
def test_diff_converts_again_a_node_that_drifted_and_replaces_another_host(olds, news, changes, replaces):
    found = HostedEngineNodeProvider().diff("id", olds, news)
    assert (found.changes, found.replaces, found.delete_before_replace) == (changes, replaces, True)
