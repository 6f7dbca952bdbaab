"""Issue 23.6: a host install is asynchronous. The Engine answers the install call before its thread pool runs
the install (UpdateVdsCommand, ThreadPoolUtil), so the host still shows the maintenance it was in, locked; a
conversion waits for the install's own end, VDS_INSTALL under the call's correlation id, not for a status it
may see before the install has started."""

import time

import ovirtsdk4.types as types
import pytest

from lab.engine_api import EngineApi
from providers import base, engine_api, hosted_engine_node
from tests.test_lab_engine_api import self_hosted_model
from tests.test_maintenance_refusal import node_props

START = 1.5  # the thread pool takes its time: long enough that a wait on the status alone ends before it
DELAYS = {"install_start": START, "install": 0.3, "reboot": 0.1, "initializing": 0.1, "maintenance": 0.1}


@pytest.fixture
def engine(tmp_path):
    """A self-hosted Engine whose host2 is in maintenance, ready to be reinstalled as a node."""
    model = self_hosted_model()
    next(h for h in model["hosts"] if h["name"] == "host2")["status"] = "maintenance"
    next(vm for vm in model["vms"] if vm["name"] == "vm2")["status"] = "down"
    api = EngineApi(str(tmp_path / "engine"), model, delays=DELAYS).start()
    yield api
    api.stop()


def test_a_conversion_waits_for_the_install_to_start_and_end_before_it_activates(engine):
    props = dict(node_props(engine), host="host2", connection={"name": "host2"}, reboot=True, installTimeout=10)
    host = hosted_engine_node._host(props)
    started = time.monotonic()
    hosted_engine_node._reinstall(props, host, deploy=True)
    assert time.monotonic() - started >= START + DELAYS["install"] + DELAYS["reboot"]
    events = base.api(props).system_service().events_service().list()
    (ended,) = [e for e in events if e.code == engine_api.VDS_INSTALL]
    assert ended.correlation_id.startswith("she-") and len(ended.correlation_id) <= 36
    assert [e.code for e in events if e.correlation_id == ended.correlation_id] == [504, 561, 560, 43]
    hosted_engine_node._activate(props)
    assert hosted_engine_node._host(props).status == types.HostStatus.UP
