"""Issue 17: a host running VMs pinned to it cannot go to maintenance, so it cannot be converted.

The Engine refuses the REST `deactivate` in MaintenanceNumberOfVdssCommand.validate() with a 409 fault
(VDS_CANNOT_MAINTENANCE_IT_INCLUDES_NON_MIGRATABLE_VM, see lab/README.md); the lab's Engine does the same,
and a conversion stops with one sentence naming the host, its pinned VMs and the ways on. The module's
tests share one lab whose Engine model pins vm1 and db1 to host1, and run in order: the raw SDK against
the original Engine, the provider's own functions, then `pulumi up` of the whole migration.
"""

import copy
import time

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
import pytest
import yaml
from pulumi import automation as auto

from lab.engine_api import EngineApi, load_model
from lab.testing import LabProcess, site_variant
from providers import engine_api, hosted_engine_node
from providers.errors import StepError
from tests.harness import ProjectStack, migration_settings, pinned_ports_site

ADMIN_PASSWORD = "lab-admin-password"
# AppErrors.properties VDS_CANNOT_MAINTENANCE_IT_INCLUDES_NON_MIGRATABLE_VM with HostsList and VmsList (joined
# with " , ", MaintenanceNumberOfVdssCommand.handleNonMigratableVms), in the brackets of Java's List.toString.
REFUSAL = (
    "[Cannot switch the following Hosts to Maintenance mode: host1.\nOne or more running VMs are indicated "
    "as non-migratable. The non-migratable VMs are: db1 , vm1.]"
)
SAID = (
    "Cannot switch the following Hosts to Maintenance mode: host1. One or more running VMs are indicated as "
    "non-migratable. The non-migratable VMs are: db1 , vm1."
)
SENTENCE = (
    f'host1: the Engine refused to put host1 in maintenance ("{SAID}") because it runs VMs that cannot migrate '
    "away: db1, vm1; nothing changed on the site (host1 stays up). Unpin them so that maintenance migrates them "
    '(Edit Virtual Machine > Host > Migration mode: "Allow manual and automatic migration" or "Allow manual '
    'migration only"), or shut them down while the host is reinstalled, or leave host1 out of '
    "`hostedEngineNodes`, then run `pulumi up` again."
)


def pinned_model():
    """The default model with vm1 pinned to host1 and a second pinned VM there, db1; vm2 stays migratable."""
    model = copy.deepcopy(load_model())
    vm1 = next(vm for vm in model["vms"] if vm["name"] == "vm1")
    vm1["placement"] = "pinned"
    model["vms"].insert(
        1, {"name": "db1", "host": "host1", "status": "up", "memory_mb": 2048, "placement": "pinned", "origin": "ovirt"}
    )
    model["vms"].append(
        {
            "name": "batch1",
            "host": "host1",
            "status": "up",
            "memory_mb": 2048,
            "placement": "user_migratable",
            "origin": "ovirt",
        }
    )
    return model


@pytest.fixture(scope="module")
def pinned_lab(tmp_path_factory, client_key):
    tmp = tmp_path_factory.mktemp("pinned-site")
    (tmp / "model.yaml").write_text(yaml.safe_dump(pinned_model(), sort_keys=False))
    base = site_variant(
        tmp / "base.yaml", lambda d: d.setdefault("ovirt", {}).update(engine_model=str(tmp / "model.yaml"))
    )
    site, ports = pinned_ports_site(tmp / "site.yaml", base=base)
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        lab.ports = ports
        yield lab


def by_name(service, name):
    return next(e for e in service.list() if e.name == name)


def placements(system):
    """Each VM's (status, host name, affinity, pinned host names), as the API gives them."""
    hosts = {h.id: h.name for h in system.hosts_service().list()}
    return {
        vm.name: (
            vm.status,
            hosts.get(vm.host.id) if vm.host else None,
            vm.placement_policy.affinity,
            [hosts[h.id] for h in vm.placement_policy.hosts or []],
        )
        for vm in system.vms_service().list()
    }


def test_the_engine_refuses_maintenance_of_a_host_running_pinned_vms(pinned_lab):
    connection = pinned_lab.engine_connection()
    system = connection.system_service()
    before = placements(system)
    assert before["vm1"] == (types.VmStatus.UP, "host1", types.VmAffinity.PINNED, ["host1"])
    assert before["db1"] == (types.VmStatus.UP, "host1", types.VmAffinity.PINNED, ["host1"])
    assert before["batch1"] == (types.VmStatus.UP, "host1", types.VmAffinity.USER_MIGRATABLE, [])
    assert before["vm2"] == (types.VmStatus.UP, "host2", types.VmAffinity.MIGRATABLE, [])
    events = len(system.events_service().list())
    host1 = system.hosts_service().host_service(by_name(system.hosts_service(), "host1").id)

    with pytest.raises(sdk.Error) as refused:
        host1.deactivate()
    assert refused.value.code == 409
    assert (refused.value.fault.reason, refused.value.fault.detail) == ("Operation Failed", REFUSAL)
    assert str(refused.value).startswith(
        f'Fault reason is "Operation Failed". Fault detail is "{REFUSAL}". HTTP response code is 409.'
    )
    time.sleep(0.5)  # a started maintenance would show by now (engine_delays: migration 1 s)
    assert host1.get().status == types.HostStatus.UP
    assert placements(system) == before and len(system.events_service().list()) == events

    vm1 = system.vms_service().vm_service(by_name(system.vms_service(), "vm1").id)
    with pytest.raises(sdk.Error) as pinned:  # VmValidator.canMigrate
        vm1.migrate()
    assert (pinned.value.code, pinned.value.fault.detail) == (409, "[Cannot migrate VM. VM is pinned to Host.]")
    assert placements(system) == before
    connection.close()


@pytest.fixture
def engine(tmp_path):
    """An Engine API of its own for the provider's functions, called directly: host2 in maintenance, so host1 is
    the cluster's only Up host."""
    model = copy.deepcopy(load_model())
    next(h for h in model["hosts"] if h["name"] == "host2")["status"] = "maintenance"
    next(vm for vm in model["vms"] if vm["name"] == "vm2")["status"] = "down"
    api = EngineApi(str(tmp_path / "engine"), model, delays={"migration": 0.2, "maintenance": 0.1}).start()
    yield api
    api.stop()


@pytest.fixture
def node_engine(tmp_path):
    """An Engine API where host1 is already a hosted-engine node running the pinned VMs."""
    model = pinned_model()
    next(h for h in model["hosts"] if h["name"] == "host1")["hosted_engine"] = {"configured": True, "score": 3400}
    api = EngineApi(str(tmp_path / "engine"), model).start()
    yield api
    api.stop()


def node_props(api):
    with open(api.ca_file) as ca:
        ca_pem = ca.read()
    return {
        "engine": engine_api.Engine(api.url, "admin@internal", ca_pem).to_props(),
        "adminPassword": ADMIN_PASSWORD,
        "host": "host1",
        "connection": {"name": "host1"},
        "maintenanceTimeout": 5,
        "pollInterval": 0.1,
    }


def test_another_refusal_is_quoted_with_what_to_do(engine):
    """A refusal for another reason than pinned VMs (no Up host to take host1's VMs) is quoted as it is."""
    props = node_props(engine)
    host = hosted_engine_node._host(props)
    with pytest.raises(StepError) as refused:
        hosted_engine_node._to_maintenance(props, host)
    assert str(refused.value) == (
        'host1: the Engine refused to put host1 in maintenance ("The following Hosts have running VMs and cannot be switched '
        "to maintenance mode: host1. Please ensure that the following Clusters have at least one Host in UP state: "
        'Default.") and nothing changed on the site (host1 stays up). Do what the Engine asks, or leave host1 out of '
        "`hostedEngineNodes`, then run `pulumi up` again."
    )
    assert hosted_engine_node._host(props).status == types.HostStatus.UP


def test_a_node_being_undeployed_is_told_to_stay_in_the_list(node_engine):
    """The same refusal when `pulumi destroy` or a shorter `hostedEngineNodes` undeploys host1."""
    props = node_props(node_engine)
    host = hosted_engine_node._host(props)
    with pytest.raises(StepError) as refused:
        hosted_engine_node._to_maintenance(props, host)
    assert str(refused.value) == SENTENCE.replace(
        "leave host1 out of `hostedEngineNodes`", "keep host1 in `hostedEngineNodes` (it stays a node)"
    )
    assert hosted_engine_node._host(props).status == types.HostStatus.UP


def test_the_vms_come_from_the_refusal_when_the_api_does_not_list_them():
    assert engine_api.non_migratable_vms_named(SAID) == ["db1", "vm1"]
    assert engine_api.non_migratable_vms_named(REFUSAL) == ["db1", "vm1"]
    assert engine_api.non_migratable_vms_named("Cannot switch Host to Maintenance mode, Host is not operational.") == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory, pinned_lab, client_key):
    stack = ProjectStack(tmp_path_factory.mktemp("project"), "site")
    stack.configure(
        migration_settings(pinned_lab, pinned_lab.ports),
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": "engine-vm-root-Pa55",
        },
    )
    return stack


def test_up_stops_at_the_host_with_the_vms_and_the_way_on(stack, pinned_lab):
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    assert SENTENCE in message, message
    assert "Fault reason is" not in message  # not the SDK's own text
    pinned_lab.refresh()
    system = pinned_lab.engine_connection(new=True).system_service()
    host1 = by_name(system.hosts_service(), "host1")
    assert host1.status == types.HostStatus.UP
    he = system.hosts_service().host_service(host1.id).get(all_content=True).hosted_engine
    assert he is None  # not configured: the Engine leaves the element out
    assert not [c for c in pinned_lab.commands("host1") if c["kind"] == "engine"]  # no host-deploy, no HA call
    on_host1 = {name for name, (status, host, _, _) in placements(system).items() if host == "host1"}
    assert on_host1 == {"vm1", "db1", "batch1"}
    assert engine_api.pinned_vms(pinned_lab.engine_connection(new=True), host1) == ["db1", "vm1"]
    types_in_state = [r["type"] for r in stack.stack.export_stack().deployment["resources"]]
    assert not any(t.endswith("HostedEngineNode") for t in types_in_state)


def test_leaving_the_host_out_converts_the_others(stack, pinned_lab):
    stack.configure({"hostedEngineNodes": ["host2"]})
    result = stack.up()
    assert result.summary.result == "succeeded"
    assert result.outputs["nodeScores"].value == {"host2": 3400}
    system = pinned_lab.engine_connection(new=True).system_service()
    assert by_name(system.hosts_service(), "host1").status == types.HostStatus.UP
