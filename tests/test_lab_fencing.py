"""The lab's Engine fences a host that stops answering as ovirt-engine does (lab/engine_api/fencing.py): Connecting for
the grace period, Non Responsive, then a power-management restart once DisableFenceAtStartupInSec has passed since the
Engine started, with a proxy host; nothing without power management. Real ovirtsdk4 and paramiko against the lab."""

import paramiko
import pytest

from lab.testing import LabProcess, reserved_port, site_variant
from tests.harness import ProjectStack, migration_settings, power_off, run, wait_until
from tests.test_preflight import make_stack, secrets
from tests.test_preflight_restore import failed_preview, model_with

QUICK = {"DisableFenceAtStartupInSec": 1, "TimeoutToResetVdsInSeconds": 1, "DelayResetForSpmInSeconds": 0}


def fencing_site(tmp, config, power_management=True):
    def edit(model):
        model["engine"]["config"] = config
        model["hosts"][0]["power_management"] = {"enabled": power_management}

    return site_variant(
        tmp / "site.yaml", lambda d: d.setdefault("ovirt", {}).update(engine_model=model_with(tmp, edit))
    )


@pytest.fixture
def fencing_lab(tmp_path_factory, client_key, request):
    tmp = tmp_path_factory.mktemp("fencing")
    config, power_management = request.param
    with LabProcess(
        tmp_path_factory.mktemp("lab"),
        site=fencing_site(tmp, config, power_management),
        authorized_keys=[client_key[1]],
        client_key=client_key[0],
    ) as lab:
        yield lab


def host1(lab):
    hosts = lab.engine_connection().system_service().hosts_service()
    return hosts.host_service(hosts.list(search="name=host1")[0].id)


def codes(lab, after=0):
    events = lab.engine_connection().system_service().events_service().list(search="host.name=host1")
    return [e.code for e in sorted(events, key=lambda e: int(e.id)) if int(e.id) > after]


def status(lab):
    return str(host1(lab).get().status)


@pytest.mark.parametrize("fencing_lab", [(QUICK, True)], indirect=True)
def test_a_host_with_power_management_that_stops_answering_is_restarted_once_the_startup_window_passed(fencing_lab):
    lab = fencing_lab
    assert status(lab) == "up"
    power_off(lab.ssh("host1"))
    assert wait_until(lambda: status(lab) == "connecting", timeout=10)
    wait_until(lambda: 9018 in codes(lab), timeout=15)
    assert [c for c in codes(lab) if c in (9008, 12, 9017, 9018, 121, 14)] == [9008, 12, 9017, 9018, 121, 14]
    wait_until(lambda: status(lab) == "up", timeout=15)  # powered on by its agent: monitoring finds it again
    assert run(lab.ssh("host1"), "true")[0] == 0


@pytest.mark.parametrize("fencing_lab", [({**QUICK, "DisableFenceAtStartupInSec": 3600}, True)], indirect=True)
def test_inside_the_startup_window_the_engine_only_says_it_skipped_the_fence(fencing_lab):
    lab = fencing_lab
    power_off(lab.ssh("host1"))
    wait_until(lambda: 9003 in codes(lab), timeout=15)
    assert status(lab) == "non_responsive" and 9017 not in codes(lab)
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        lab.ssh("host1")  # still off


@pytest.mark.parametrize("fencing_lab", [(QUICK, False)], indirect=True)
def test_without_power_management_the_host_stays_non_responsive(fencing_lab):
    lab = fencing_lab
    power_off(lab.ssh("host1"))
    wait_until(lambda: 9028 in codes(lab), timeout=15)
    assert [c for c in codes(lab) if c in (9027, 12, 9028, 9017)] == [9027, 12, 9028]
    assert status(lab) == "non_responsive"


def host3_non_responsive(config):
    """host1 and host2 with power management; host3, which no machine answers for, Non Responsive with it too."""

    def edit(model):
        model["engine"]["config"] = config
        for host in model["hosts"]:
            host["power_management"] = {"enabled": True}
        model["hosts"].append({**model["hosts"][0], "name": "host3", "address": "host3.lab.example"})
        model["hosts"][-1]["status"] = "non_responsive"

    return edit


def lab_with(tmp_path_factory, client_key, edit, ports=None):
    tmp = tmp_path_factory.mktemp("fenced-site")
    site = site_variant(
        tmp / "site.yaml",
        lambda d: d.setdefault("ovirt", {}).update(engine_model=model_with(tmp, edit), **(ports or {})),
    )
    return LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    )


def test_a_host_the_database_has_non_responsive_is_restarted_when_the_startup_window_ends(tmp_path_factory, client_key):
    """PmHealthCheckManager.recover: whatever the Engine restored or found, once per start."""
    with lab_with(tmp_path_factory, client_key, host3_non_responsive(QUICK)) as lab:
        events = lab.engine_connection().system_service().events_service()
        wait_until(lambda: any(e.code == 9018 for e in events.list(search="host.name=host3")), timeout=15)
        assert [e.code for e in sorted(events.list(search="host.name=host3"), key=lambda e: int(e.id))] == [
            9017, 9018, 121, 14
        ]  # fmt: skip


def test_the_preview_refuses_a_host_the_new_engine_would_restart(tmp_path_factory, client_key):
    edit = host3_non_responsive({**QUICK, "DisableFenceAtStartupInSec": 3600})
    with lab_with(tmp_path_factory, client_key, edit) as lab:
        preview = " ".join(failed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert (
            "host3 does not answer the original Engine now and has power management enabled: the restored " in preview
        )
        assert "it may fence (power-cycle) host1, host2, host3 if it stops answering" in preview


def test_no_step_of_the_migration_leaves_a_host_unanswering(tmp_path_factory, client_key):
    """The nodes have power management and the restored Engine fences after a second: nothing is ever fenced."""
    ports = {"engine_api_new_port": reserved_port(), "engine_vm_ssh_port": reserved_port()}

    def edit(model):
        model["engine"]["config"] = QUICK
        for host in model["hosts"]:
            host["power_management"] = {"enabled": True}

    with lab_with(tmp_path_factory, client_key, edit, ports) as lab:
        stack = ProjectStack(tmp_path_factory.mktemp("project"), "fenced")
        stack.configure(migration_settings(lab, ports), secrets(client_key))
        assert stack.up().summary.result == "succeeded"
        events = lab.engine_connection(new=True).system_service().events_service().list()
        assert not [(e.code, e.description) for e in events if e.code in (12, 9003, 9008, 9017, 9027)]
