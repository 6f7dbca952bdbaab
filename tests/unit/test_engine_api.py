"""The Engine API transport's pure parts: which failures are worth another try, the Engine's refusal text
read for VM names, and waits that poll through transient failures and say what never happened."""

import itertools

import ovirtsdk4
import pytest

from providers.engine_api import Engine, EngineWaitTimeout, is_transient, non_migratable_vms_named, wait_for


def test_only_5xx_timeouts_and_no_connection_are_transient():
    assert is_transient(ovirtsdk4.Error("timed out"))  # no HTTP code: the transfer failed
    assert is_transient(ovirtsdk4.Error("unavailable", code=503))
    assert not is_transient(ovirtsdk4.Error("refused", code=409))
    assert not is_transient(ovirtsdk4.NotFoundError("gone", code=404))
    assert not is_transient(ovirtsdk4.AuthError("who?"))
    assert not is_transient(ValueError("not the Engine's"))


def test_the_non_migratable_vms_are_read_from_the_engines_refusal():
    detail = (
        "Cannot switch Host to Maintenance mode. Host still has non-migratable VMs running on it. "
        "The non-migratable VMs are: db1 , db 2 , web.example.com."
    )
    assert non_migratable_vms_named(detail) == ["db1", "db 2", "web.example.com"]
    assert non_migratable_vms_named("Cannot switch Host to Maintenance mode.") == []


def test_engine_properties_round_trip():
    engine = Engine("https://engine.example.com/ovirt-engine/api", "admin@internal", "PEM")
    assert Engine.from_props(engine.to_props()) == engine


def test_a_wait_polls_through_transient_failures_until_done():
    answers = iter([ovirtsdk4.Error("busy", code=503), "installing", "up"])

    def fetch():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for(fetch, lambda status: status == "up", "host1 to be up", timeout=5, interval=0) == "up"


def test_a_wait_stops_at_a_refusal_and_at_its_deadline_saying_what_it_waited_for():
    def refused():
        raise ovirtsdk4.Error("refused", code=409)

    with pytest.raises(ovirtsdk4.Error, match="refused"):
        wait_for(refused, bool, "x", timeout=5, interval=0)
    polls = itertools.count()
    with pytest.raises(
        EngineWaitTimeout,
        match="^the Engine: timed out after 0s waiting for host1 to be up. The Engine may still get there",
    ):
        wait_for(lambda: next(polls), lambda _: False, "host1 to be up", timeout=0.05, interval=0.01)
