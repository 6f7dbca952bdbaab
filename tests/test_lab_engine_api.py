"""The simulated engine API, exercised with the real ovirtsdk4 over verified TLS."""

import base64
import copy
import io
import json
import ssl
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import ovirtsdk4 as sdk
import ovirtsdk4.services
import ovirtsdk4.types as types
import pycurl
import pytest

from lab.engine_api import EngineApi, load_model, upstream
from lab.engine_api.server import ACTIONS

FAST = {"migration": 0.2, "maintenance": 0.1, "install": 0.3, "reboot": 0.1, "initializing": 0.1}
PASSWORD = "lab-admin-password"


def start(state_dir, model=None, **kwargs):
    return EngineApi(str(state_dir), model, delays=FAST, **kwargs).start()


def connect(engine, password=PASSWORD, **kwargs):
    kwargs.setdefault("ca_file", engine.ca_file)
    kwargs.setdefault("timeout", 10)
    return sdk.Connection(url=engine.url, username="admin@internal", password=password, **kwargs)


@pytest.fixture
def engine(tmp_path):
    api = start(tmp_path)
    yield api
    api.stop()


@pytest.fixture
def system(engine):
    conn = connect(engine)
    yield conn.system_service()
    conn.close()


def host_service(system, name):
    hosts = system.hosts_service()
    return hosts.host_service(hosts.list(search="name=%s" % name)[0].id)


def wait_status(service, wanted, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = service.get().status
        if status == wanted:
            return
        time.sleep(0.05)
    raise AssertionError("still %s, wanted %s" % (status, wanted))


def vms_on(system, host_id):
    return sorted(v.name for v in system.vms_service().list() if v.host is not None and v.host.id == host_id)


def model_with(edit):
    model = copy.deepcopy(load_model())
    edit(model)
    return model


def test_connect_and_product_version(engine):
    conn = connect(engine)
    assert conn.test(raise_exception=True)
    api = conn.system_service().get()
    assert api.product_info.version.full_version.startswith("4.5.6")
    assert (api.product_info.version.major, api.product_info.version.minor) == (4, 5)
    conn.close()


def test_wrong_password_is_auth_error(engine):
    with pytest.raises(sdk.AuthError, match="access_denied"):
        connect(engine, password="wrong").authenticate()


def test_client_without_lab_ca_fails_tls_verification(engine):
    with pytest.raises(sdk.Error, match="(?i)ssl|certificate"):
        connect(engine, ca_file=None).system_service().get()


def test_inventory(system):
    assert [h.name for h in system.hosts_service().list()] == ["host1", "host2"]
    assert [h.name for h in system.hosts_service().list(search="name=host2")] == ["host2"]
    assert all(h.status == types.HostStatus.UP for h in system.hosts_service().list())
    (domain,) = system.storage_domains_service().list()
    assert (domain.name, domain.type, domain.storage.type) == (
        "data",
        types.StorageDomainType.DATA,
        types.StorageType.NFS,
    )
    assert (domain.storage.address, domain.storage.path) == ("storage.lab.example", "/exports/data")
    (dc,) = system.data_centers_service().list()
    attached = system.data_centers_service().data_center_service(dc.id).storage_domains_service().list()
    assert [(d.name, d.status) for d in attached] == [("data", types.StorageDomainStatus.ACTIVE)]
    vms = {v.name: v for v in system.vms_service().list()}
    assert set(vms) == {"vm1", "vm2"}
    assert vms["vm1"].placement_policy.affinity == types.VmAffinity.MIGRATABLE
    assert vms["vm1"].status == types.VmStatus.UP


def test_ovirtmgmt_is_vm_network(system):
    (net,) = system.networks_service().list()
    assert net.name == "ovirtmgmt" and types.NetworkUsage.VM in net.usages
    (cluster,) = system.clusters_service().list()
    cluster_nets = system.clusters_service().cluster_service(cluster.id).networks_service().list()
    assert [n.name for n in cluster_nets] == ["ovirtmgmt"]


def test_hosted_engine_only_with_all_content_and_only_where_it_is_configured(system):
    """BackendHostsResource.addHostedEngineIfConfigured: a host without hosted-engine has no hosted_engine element
    even with All-Content (the configured one: test_reinstall_with_hosted_engine_deploy)."""
    host = host_service(system, "host1")
    assert host.get().hosted_engine is None
    assert host.get(all_content=True).hosted_engine is None


def test_deactivate_migrates_vms_then_maintenance(system):
    host = host_service(system, "host1")
    host_id = host.get().id
    host.deactivate()
    assert host.get().status == types.HostStatus.PREPARING_FOR_MAINTENANCE
    wait_status(host, types.HostStatus.MAINTENANCE)
    assert vms_on(system, host_id) == []
    assert all(v.status == types.VmStatus.UP for v in system.vms_service().list())
    with pytest.raises(sdk.Error) as err:
        host.deactivate()
    assert err.value.code == 409


def test_pinned_vm_blocks_maintenance_with_fault(tmp_path):
    def pin(model):
        model["vms"][0]["placement"] = "pinned"

    engine = start(tmp_path, model_with(pin))
    conn = connect(engine)
    host = host_service(conn.system_service(), "host1")
    with pytest.raises(sdk.Error) as err:
        host.deactivate()
    assert err.value.code == 409 and "vm1" in err.value.fault.detail
    assert host.get().status == types.HostStatus.UP
    conn.close()
    engine.stop()


def test_vm_without_room_leaves_host_preparing_for_maintenance(tmp_path):
    def big_vm(model):
        model["vms"][0]["memory_mb"] = 30000

    engine = start(tmp_path, model_with(big_vm))
    conn = connect(engine)
    host = host_service(conn.system_service(), "host1")
    host.deactivate()
    time.sleep(0.5)
    status = host.get()
    assert status.status == types.HostStatus.PREPARING_FOR_MAINTENANCE
    assert "vm1" in status.status_detail
    host.activate()
    assert host.get().status == types.HostStatus.UP
    conn.close()
    engine.stop()


class HostDeploy:
    """What the lab's hosts answer for the engine: host-deploy marks a host deployed, its VDSM's haStats follow."""

    def __init__(self):
        self.deployed, self.calls = set(), []

    def run(self, engine):
        with engine.site.lock:
            for call in engine.site.host_calls():
                self.calls.append(call)
                if call["call"] == "host-deploy" and call["hosted_engine"] == "deploy":
                    self.deployed.add(call["name"])

    def monitor(self, host):
        if host["name"] not in self.deployed:
            return {
                "configured": False,
                "active": False,
                "score": 0,
                "global_maintenance": False,
                "local_maintenance": False,
            }
        return {
            "configured": True,
            "active": True,
            "score": 3400,
            "global_maintenance": False,
            "local_maintenance": False,
        }


def in_maintenance(system, name):
    """The host's service, once it is in maintenance."""
    host = host_service(system, name)
    host.deactivate()
    wait_status(host, types.HostStatus.MAINTENANCE)
    return host


def self_hosted_model(datacenter="Default"):
    """The default model as a self-hosted Engine sees it: its HostedEngine VM on host1."""
    model = copy.deepcopy(load_model())
    model["vms"].append(
        {
            "name": "HostedEngine",
            "host": "host1",
            "status": "up",
            "memory_mb": 16384,
            "placement": "migratable",
            "origin": "managed_hosted_engine",
        }
    )
    return model


@pytest.fixture
def monitored(tmp_path):
    hosts = HostDeploy()
    api = start(tmp_path, self_hosted_model(), monitor=hosts.monitor)
    conn = connect(api)
    yield api, conn.system_service(), hosts
    conn.close()
    api.stop()


def test_install_defaults_reboot_and_leave_the_host_in_maintenance(monitored):
    """BackendHostResource.install: reboot defaults to true, activate to false."""
    engine, system, hosts = monitored
    host = in_maintenance(system, "host2")
    host.install(ssh=types.Ssh(authentication_method=types.SshAuthenticationMethod.PUBLICKEY))
    wait_status(host, types.HostStatus.INSTALLING)
    wait_status(host, types.HostStatus.REBOOT)
    wait_status(host, types.HostStatus.MAINTENANCE)
    time.sleep(0.3)
    assert host.get().status == types.HostStatus.MAINTENANCE
    hosts.run(engine)
    assert [(c["call"], c["name"], c["reboot"], c["hosted_engine"]) for c in hosts.calls] == [
        ("host-deploy", "host2", True, None)
    ]


def test_an_install_runs_after_its_call_returns_locked_and_its_events_carry_the_calls_correlation_id(monitored):
    """UpdateVdsCommand hands InstallVdsInternal to the thread pool: the call returns with the host still in
    maintenance but locked (ACTION_TYPE_FAILED_OBJECT_LOCKED), Installing comes later, and every entry the install
    writes carries the call's correlation id (CorrelationIdTracker through ThreadPoolUtil)."""
    engine, system, hosts = monitored
    host = in_maintenance(system, "host2")
    host.install(
        ssh=types.Ssh(authentication_method=types.SshAuthenticationMethod.PUBLICKEY),
        reboot=False,
        headers={"Correlation-Id": "install-7"},
    )
    assert host.get().status == types.HostStatus.MAINTENANCE
    with pytest.raises(sdk.Error) as locked:
        host.activate()
    assert locked.value.code == 409 and "Cannot activate Host. Related operation is currently in progress" in str(
        locked.value
    )
    wait_status(host, types.HostStatus.INSTALLING)
    wait_status(host, types.HostStatus.MAINTENANCE)
    events = system.events_service().list(search="correlation_id=install-7")
    assert sorted(e.code for e in events) == [43, 504, 560, 561]
    assert {e.host.id for e in events} == {host.get().id}
    host.activate()  # the lock ends with the install
    wait_status(host, types.HostStatus.UP)


def test_reinstall_with_hosted_engine_deploy(monitored):
    """`configured` comes from host monitoring, which skips hosts in maintenance: it changes only once the
    host is activated and Up (VDSStatus.isEligibleForHostMonitoring)."""
    engine, system, hosts = monitored
    host = host_service(system, "host2")
    with pytest.raises(sdk.Error) as err:
        host.install(root_password="lab-root-password", deploy_hosted_engine=True)
    assert err.value.code == 409  # must be in maintenance first
    host.deactivate()
    wait_status(host, types.HostStatus.MAINTENANCE)
    host.install(root_password="lab-root-password", deploy_hosted_engine=True, reboot=False)
    wait_status(host, types.HostStatus.INSTALLING)
    wait_status(host, types.HostStatus.MAINTENANCE)
    time.sleep(0.2)
    hosts.run(engine)
    assert "host2" in hosts.deployed
    assert host.get(all_content=True).hosted_engine is None  # not monitored in maintenance: not configured
    host.activate()
    wait_status(host, types.HostStatus.UP)
    he = host.get(all_content=True).hosted_engine
    assert he.configured and he.score > 0 and not he.local_maintenance


def test_hosted_engine_deploy_needs_an_engine_vm_in_the_hosts_data_centre(system, tmp_path):
    """HostValidator.supportsDeployingHostedEngine: 409 without a managed Engine VM, or for a host in another DC."""
    host = in_maintenance(system, "host2")
    with pytest.raises(sdk.Error) as err:
        host.install(root_password="lab-root-password", deploy_hosted_engine=True)
    assert err.value.code == 409 and "unmanaged hosted engine VM" in str(err.value)
    model = self_hosted_model()
    model["datacenters"].append({"name": "Other"})
    model["clusters"].append({"name": "Elsewhere", "datacenter": "Other"})
    model["hosts"][1]["cluster"] = "Elsewhere"
    model["hosts"][1]["status"] = "maintenance"
    other = start(tmp_path / "other", model)
    conn = connect(other)
    try:
        with pytest.raises(sdk.Error) as err:
            host_service(conn.system_service(), "host2").install(
                root_password="lab-root-password", deploy_hosted_engine=True
            )
        assert err.value.code == 409 and "data center other than hosted engine VM runs on" in str(err.value)
    finally:
        conn.close()
        other.stop()


def test_install_needs_credentials_and_right_password(monitored):
    _, system, _ = monitored
    host = in_maintenance(system, "host2")  # host1 runs the Engine VM, which only a hosted-engine host takes
    with pytest.raises(sdk.Error) as err:
        host.install(deploy_hosted_engine=True)
    assert err.value.code == 400
    host.install(root_password="wrong", deploy_hosted_engine=True, headers={"Correlation-Id": "wrong-password"})
    wait_status(host, types.HostStatus.INSTALL_FAILED)
    (failed,) = system.events_service().list(search="correlation_id=wrong-password and type=505")
    assert failed.description == "Host host2 installation failed. SSH authentication to host2.lab.example failed."
    host.install(
        ssh=types.Ssh(authentication_method=types.SshAuthenticationMethod.PUBLICKEY),
        deploy_hosted_engine=True,
        activate=True,
    )
    wait_status(host, types.HostStatus.UP)


def test_vm_migrate(system):
    vms = system.vms_service()
    vm1 = vms.vm_service(vms.list(search="name=vm1")[0].id)
    host2 = host_service(system, "host2").get()
    vm1.migrate(host=types.Host(name="host2"))
    assert vm1.get().status == types.VmStatus.MIGRATING
    time.sleep(0.3)
    assert vm1.get().host.id == host2.id


def test_engine_down_answers_503(tmp_path):
    up = {"value": True}
    engine = start(tmp_path, is_up=lambda: up["value"])
    conn = connect(engine)
    conn.system_service().get()
    up["value"] = False
    with pytest.raises(sdk.Error, match="text/html"):
        conn.system_service().get()
    with pytest.raises(sdk.Error):
        connect(engine).authenticate()
    up["value"] = True
    assert conn.system_service().get().product_info is not None
    conn.close()
    engine.stop()


def test_restart_keeps_state(tmp_path):
    engine = start(tmp_path)
    conn = connect(engine)
    host = host_service(conn.system_service(), "host1")
    host.deactivate()
    wait_status(host, types.HostStatus.MAINTENANCE)
    conn.close()
    engine.stop()
    engine = start(tmp_path)  # new port, same CA and state
    conn = connect(engine)
    system = conn.system_service()
    assert host_service(system, "host1").get().status == types.HostStatus.MAINTENANCE
    assert vms_on(system, host_service(system, "host1").get().id) == []
    conn.close()
    engine.stop()


def test_injected_failures_and_hangs(engine, system):
    engine.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(sdk.Error) as err:
            system.get()
        assert err.value.code == 500
    assert system.get().product_info is not None
    engine.hang_next(1.5)
    conn = connect(engine, timeout=1)
    with pytest.raises(sdk.Error, match="(?i)timed? ?out"):
        conn.system_service().get()
    conn.close()


def test_api_requires_bearer_token(engine):
    """Without the SSO token the API answers 401 (the SDK would fetch a token and retry)."""
    curl, buf = pycurl.Curl(), io.BytesIO()
    curl.setopt(pycurl.URL, engine.url)
    curl.setopt(pycurl.CAINFO, engine.ca_file)
    curl.setopt(pycurl.WRITEFUNCTION, buf.write)
    curl.perform()
    assert curl.getinfo(pycurl.HTTP_CODE) == 401
    curl.close()


def http(engine, path, headers=None, method="GET", body=None, basic=True):
    """A raw HTTPS request to the API (path after /ovirt-engine/api): (status, headers, body)."""
    context = ssl.create_default_context(cafile=engine.ca_file)
    headers = dict(headers or {})
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(b"admin@internal:" + PASSWORD.encode()).decode()
    request = urllib.request.Request(engine.url + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_entities_link_their_sub_collections_and_the_sdk_follows_them(system):
    host = system.hosts_service().list(search="name=host1")[0]
    conn = system._connection
    stats = {s.name: s.values[0].datum for s in conn.follow_link(host.statistics)}
    assert stats["memory.total"] == 32768 * 1024 * 1024 and stats["memory.used"] == 4096 * 1024 * 1024
    (nic,) = conn.follow_link(host.nics)
    assert nic.name == "eth0" and nic.mac.address.startswith("56:6f:")
    vm = system.vms_service().list(search="name=vm1")[0]
    (attachment,) = conn.follow_link(vm.disk_attachments)
    disk = conn.follow_link(attachment.disk)
    assert (disk.name, disk.provisioned_size, attachment.bootable) == ("vm1_Disk1", 20 * 1024**3, True)
    assert [n.name for n in conn.follow_link(vm.nics)] == ["nic1"]
    assert [d.type for d in conn.follow_link(vm.reported_devices)] == [types.ReportedDeviceType.NETWORK]
    assert conn.follow_link(vm.tags) == []


def test_entities_carry_actions_and_links_as_the_engine_writes_them(engine):
    status, _, body = http(engine, "/hosts")
    root = ET.fromstring(body)
    host = root.find("host")
    actions = {link.get("rel") for link in host.find("actions")}
    assert {"activate", "deactivate", "install", "upgradecheck"} <= actions
    links = {link.get("rel"): link.get("href") for link in host.findall("link")}
    assert links["statistics"] == host.get("href") + "/statistics" and "nics" in links


def test_system_collections(system):
    disks = system.disks_service().list()
    assert sorted(d.alias for d in disks) == ["vm1_Disk1", "vm2_Disk1"]
    domain = system.storage_domains_service().list()[0]
    assert domain.committed == 40 * 1024**3 and domain.used == 10 * 1024**3 and domain.available > 0
    tags = system.tags_service().list()
    assert [(t.name, t.id) for t in tags] == [("root", "00000000-0000-0000-0000-000000000000")]
    roles = {r.name: r for r in system.roles_service().list()}
    assert roles["SuperUser"].administrative and not roles["UserRole"].administrative
    assert roles["SuperUser"].id == "00000000-0000-0000-0000-000000000001"
    (user,) = system.users_service().list()
    assert user.user_name == "admin@internal-authz"
    host = host_service(system, "host1")
    host.deactivate()
    assert [j.description for j in system.jobs_service().list()] == ["Moving Host(s) host1 to Maintenance"]


def test_api_root_summary_special_objects_and_collection_links(engine, system):
    api = system.get()
    assert (api.summary.hosts.total, api.summary.vms.active, api.summary.users.total) == (2, 2, 1)
    assert api.summary.users.active == 1 and api.summary.storage_domains.total == 1
    assert (
        api.special_objects.root_tag.id
        == api.special_objects.blank_template.id
        == "0" * 8 + "-0000" * 3 + "-" + "0" * 12
    )
    root = ET.fromstring(http(engine, "")[2])
    rels = {link.get("rel"): link.get("href") for link in root.findall("link")}
    assert rels["hosts"] == "/ovirt-engine/api/hosts"
    assert rels["hosts/search"] == "/ovirt-engine/api/hosts?search={query}"
    assert root.find("authenticated_user").get("id") == api.authenticated_user.id


def test_vm_start_and_stop(system):
    vms = system.vms_service()
    vm = vms.vm_service(vms.list(search="name=vm1")[0].id)
    vm.stop()
    assert (vm.get().status, vm.get().host) == (types.VmStatus.DOWN, None)
    with pytest.raises(sdk.Error) as err:
        vm.stop()
    assert err.value.code == 409 and err.value.fault.detail == "[Cannot stop VM. VM is not running.]"
    vm.start()
    assert vm.get().status == types.VmStatus.POWERING_UP
    wait_status(vm, types.VmStatus.UP)
    assert vm.get().host is not None


def test_upgrade_check_reports_in_the_audit_log(system):
    """HostUpgradeCheckCommand's result is in events 884 and 885 (what ovirt_host state=upgraded waits for)."""
    events = system.events_service()
    last = events.list(max=1)[0]
    host = host_service(system, "host2")
    host.upgrade_check()
    new = events.list(from_=int(last.index), search="host.name=host2")
    assert [e.code for e in new] == [884], "the check itself runs after the call answered (executeAsyncCommand)"
    deadline = time.monotonic() + 5
    while len(new) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        new = events.list(from_=int(last.index), search="host.name=host2")
    assert [e.code for e in new] == [885, 884]
    assert (
        new[0].description == "Check for available updates on host host2 was completed successfully with "
        "message 'no updates found.'."
    )
    assert host.get().update_available is False


def test_updates_by_put(system):
    host = host_service(system, "host1")
    updated = host.update(
        types.Host(
            comment="rack 4", spm=types.Spm(priority=7), power_management=types.PowerManagement(kdump_detection=False)
        )
    )
    assert (updated.comment, updated.spm.priority, updated.power_management.kdump_detection) == ("rack 4", 7, False)
    assert host.get().comment == "rack 4"
    vms = system.vms_service()
    vm = vms.vm_service(vms.list(search="name=vm2")[0].id)
    assert vm.update(types.Vm(description="web server")).description == "web server"
    (event,) = system.events_service().list(search="type=35")
    assert event.description == "VM vm2 configuration was updated by admin@internal-authz."

    # What the lab does not keep is refused when it would change, and nothing is logged for it
    pinned = types.Vm(placement_policy=types.VmPlacementPolicy(affinity=types.VmAffinity.PINNED))
    serial = types.Vm(serial_number=types.SerialNumber(policy=types.SerialNumberPolicy.CUSTOM, value="S1"))
    for change, fields in (
        (pinned, "placement_policy.affinity"),
        (serial, "serial_number.policy, serial_number.value"),
    ):
        with pytest.raises(sdk.Error) as refused:
            vm.update(change)
        assert refused.value.code == 501 and f"not modelled by the lab: PUT vms/{vm.get().id} changing {fields}" in str(
            refused.value
        )
    assert vm.get().placement_policy.affinity == types.VmAffinity.MIGRATABLE
    assert len(system.events_service().list(search="type=35")) == 1
    same = types.Vm(
        description="web server", placement_policy=types.VmPlacementPolicy(affinity=types.VmAffinity.MIGRATABLE)
    )
    assert vm.update(same).description == "web server", "a field the lab does not keep may be sent as it is"


def test_what_upstream_serves_and_the_lab_does_not_is_refused_loudly(engine, system):
    vm = system.vms_service().list(search="name=vm1")[0]
    service = system.vms_service().vm_service(vm.id)
    cluster = system.clusters_service().list()[0]
    for call, what in (
        (lambda: service.tags_service().add(types.Tag(name="web")), f"POST vms/{vm.id}/tags"),
        (lambda: service.remove(), f"DELETE vms/{vm.id}"),
        (
            lambda: system.clusters_service().cluster_service(cluster.id).update(types.Cluster(comment="x")),
            "PUT clusters/",
        ),
        (lambda: service.reboot(), f"POST vms/{vm.id}/reboot"),
    ):
        with pytest.raises(sdk.Error) as refused:
            call()
        assert refused.value.code == 501 and f"not modelled by the lab: {what}" in str(refused.value), what
    assert http(engine, f"/vms/{vm.id}/nosuchthing", method="POST", body=b"<action/>")[0] == 404
    events = system.events_service().list(max=1)
    assert http(engine, f"/events/{events[0].id}", method="PUT", body=b"<event/>")[0] == 405


def test_json_basic_auth_v4_and_correlation_id(engine):
    status, headers, body = http(engine, "/v4/hosts?search=name%3Dhost1", {"Accept": "application/json"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    (host,) = json.loads(body)["host"]
    assert host["name"] == "host1" and host["href"].startswith("/ovirt-engine/api/v4/hosts/")
    assert host["memory"] == 32768 * 1024 * 1024 and host["power_management"]["kdump_detection"] is True
    assert {link["rel"] for link in host["actions"]["link"]} >= {"deactivate"}
    status, headers, body = http(engine, "/hosts", basic=False)
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="RESTAPI"'
    action = json.dumps({"correlation_id": "ignored"}).encode()
    status, headers, _ = http(
        engine,
        "/hosts/%s/deactivate" % host["id"],
        method="POST",
        body=action,
        headers={"Content-Type": "application/json", "Correlation-Id": "maint-42"},
    )
    assert status == 200 and headers["Correlation-Id"] == "maint-42"
    events = json.loads(http(engine, "/events?search=type%3D620", {"Accept": "application/json"})[2])["event"]
    assert [(e["correlation_id"], e["user"]["name"], e["host"]["name"]) for e in events] == [
        ("maint-42", "admin@internal-authz", "host1")
    ]


def test_follow_and_all_content_header(tmp_path):
    model = copy.deepcopy(load_model())
    model["hosts"][0]["hosted_engine"] = True  # configured: the only hosts with a hosted_engine element
    engine = start(tmp_path, model)
    try:
        _follow_and_all_content(engine)
    finally:
        engine.stop()


def _follow_and_all_content(engine):
    root = ET.fromstring(http(engine, "/vms?search=name%3Dvm1&follow=disk_attachments.disk,cluster")[2])
    vm = root.find("vm")
    assert vm.find("cluster/name").text == "Default"
    assert vm.find("disk_attachments/disk_attachment/disk/provisioned_size").text == str(20 * 1024**3)
    assert vm.find("link[@rel='diskattachments']") is None  # followed: the content replaces the link
    plain = ET.fromstring(http(engine, "/hosts")[2])
    full = ET.fromstring(http(engine, "/hosts", {"All-Content": "true"})[2])
    assert plain.find("host/hosted_engine") is None and full.find("host/hosted_engine/score") is not None


def test_search_pages_negation_and_free_text(system):
    vms = system.vms_service()
    assert [v.name for v in vms.list(search="page 2", max=1)] == ["vm2"]
    assert [v.name for v in vms.list(search="page 3", max=1)] == []
    assert [h.name for h in system.hosts_service().list(search="name!=host1")] == ["host2"]
    assert [h.name for h in system.hosts_service().list(search="host2")] == ["host2"]
    assert [h.name for h in system.hosts_service().list(search="name=host1 or name=host2")] == ["host1", "host2"]
    assert [h.name for h in system.hosts_service().list(search="Hosts: status=up and cluster=Default")] == [
        "host1",
        "host2",
    ]
    assert [h.name for h in system.hosts_service().list(search="datacenter=Default")] == ["host1", "host2"]
    assert [v.name for v in vms.list(search="datacenter=Default and name=vm1")] == ["vm1"]
    assert vms.list(search="datacenter=Other") == []
    with pytest.raises(sdk.Error) as refused:  # never an empty answer to a search the lab cannot evaluate
        system.hosts_service().list(search="cpu_speed>1000 or tag=rack4")
    assert refused.value.code == 400 and "not modelled by the lab: searching hosts by tag, cpu_speed>1000" in str(
        refused.value
    )


def test_events_from_index_only_newer_and_engine_fault_texts(system):
    events = system.events_service()
    first = events.list()
    assert [e.code for e in first] == [13, 13] and first[0].index > first[1].index  # newest first
    assert events.list(from_=first[0].index) == []
    assert [e.index for e in events.list(from_=first[1].index)] == [first[0].index]
    with pytest.raises(sdk.NotFoundError) as err:
        system.hosts_service().host_service("00000000-0000-0000-0000-00000000abcd").get()
    assert err.value.fault.reason == "Operation Failed"
    assert err.value.fault.detail == "Entity not found: 00000000-0000-0000-0000-00000000abcd"


def test_json_request_bodies(engine, system):
    """A JSON body is read as the element the path names (a PUT's entity), as restapi's JSONProvider reads it."""
    vm = system.vms_service().list(search="name=vm1")[0]
    status, _, body = http(
        engine,
        "/vms/%s" % vm.id,
        method="PUT",
        body=json.dumps({"comment": "from json", "memory": 8 * 1024**3}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    answer = json.loads(body)
    assert status == 200 and (answer["comment"], answer["memory"]) == ("from json", 8 * 1024**3)
    assert system.vms_service().vm_service(vm.id).get().comment == "from json"


LOUD = b"not modelled by the lab"


def json_get(engine, path):
    return http(engine, path, headers={"Accept": "application/json"})


def test_every_path_of_the_api_model_answers_as_modelled_or_refuses_loudly(engine, system):
    """The sweep: every collection of the API root, one entity of each the lab serves, every sub-collection and
    action the API model gives that entity's service. A GET answers 200 or refuses with 501 and says it is not
    modelled; an action the lab does not model is refused the same way. Nothing answers 200 for what it did not do."""
    root = ovirtsdk4.services.SystemService(None, "")
    served, refused = [], []

    def check_get(path):
        status, _, body = json_get(engine, path)
        readable = any(hasattr(root.service(path.strip("/")), m) for m in ("get", "list"))
        expected = (status == 200 or (status == 501 and LOUD in body)) if readable else status == 405
        assert expected, (path, status, body[:200])
        (served if status == 200 else refused).append(path)
        return json.loads(body) if status == 200 else None

    for collection in upstream.sub_paths(type(root)):
        listing = check_get(f"/{collection}")
        rows = next((v for v in (listing or {}).values() if isinstance(v, list) and v and "id" in v[0]), None)
        if not rows:
            continue
        entity = f"{collection}/{rows[0]['id']}"
        check_get(f"/{entity}")
        service = type(root.service(entity))
        for sub in upstream.sub_paths(service):
            check_get(f"/{entity}/{sub}")
        for action in sorted(upstream.actions(service) - {name for kind, name in ACTIONS if kind == collection}):
            status, _, body = http(engine, f"/{entity}/{action}", method="POST", body=b"<action/>")
            assert status == 501 and LOUD in body, (entity, action, status, body[:200])
            refused.append(f"POST {entity}/{action}")
    assert len(served) > 20 and len(refused) > 100, (len(served), len(refused))
