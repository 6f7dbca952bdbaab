"""The fixtures oVirt's system tests (ovirt-system-tests, run unchanged from ../shared/upstream) take, given by a
migrated lab site instead of OST's VMs: an ovirtsdk4 connection to the new Engine, and each host as a command
runner over the lab's SSH with its pinned host key, answering as OST's ansible `shell` does. The suite runs with
`--noconftest`, so only these fixtures and the suite's own modules are used; its timeouts are scaled to the lab's
delays, nothing else of it is changed.

The site is described by the JSON file named in OVIRT_SHE_OST_SITE (tests/test_ost.py writes it)."""

from __future__ import annotations

import json
import os
import shlex

import ovirtsdk4
import pytest

from lab.testing import run, ssh_client

SCALE = float(os.environ.get("OVIRT_SHE_OST_SCALE", "0.05"))  # the lab's delays are seconds where a site's are minutes


def pytest_configure(config):
    """The suite's waits, scaled: its timeouts (assert_utils SHORT/LONG) and its poll interval (EqualsWithin's 3 s)."""
    from ost_utils import assert_utils

    assert_utils.SHORT_TIMEOUT *= SCALE
    assert_utils.LONG_TIMEOUT *= SCALE
    defaults = list(assert_utils.EqualsWithin.__init__.__defaults__)
    defaults[-1] = max(0.2, defaults[-1] * SCALE)  # sleep_interval
    assert_utils.EqualsWithin.__init__.__defaults__ = tuple(defaults)


class LabHost:
    """What OST's ModuleMapper gives a test for a host: `shell(cmd)` with the module's result, raising the suite's
    AnsibleExecutionError when the command fails, as a failed ansible task does."""

    def __init__(self, name: str, host: dict, site: dict):
        self.name, self.host, self.site = name, host, site
        self._client = None

    def _connect(self):
        if self._client is None or not self._client.get_transport() or not self._client.get_transport().is_active():
            self._client = ssh_client(self.host["port"], self.site["known_hosts"], self.site["key"])
        return self._client

    def shell(self, cmd: str, **_options) -> dict:
        from ost_utils.ansible import AnsibleExecutionError

        rc, stdout, stderr = run(self._connect(), cmd, timeout=120)
        result = {"rc": rc, "stdout": stdout.rstrip("\n"), "stderr": stderr.rstrip("\n"), "cmd": shlex.split(cmd)}
        if rc != 0:
            raise AnsibleExecutionError(rc, result["stdout"])
        return result

    def close(self):
        if self._client is not None:
            self._client.close()


@pytest.fixture(scope="session")
def ost_site() -> dict:
    with open(os.environ["OVIRT_SHE_OST_SITE"]) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def lab_hosts(ost_site):
    hosts = {name: LabHost(name, host, ost_site) for name, host in ost_site["hosts"].items()}
    yield hosts
    for host in hosts.values():
        host.close()


@pytest.fixture(scope="session")
def ansible_by_hostname(ost_site, lab_hosts):
    """A host by the short name the HA agents publish (vm-status' `hostname`, trimmed at the first dot)."""
    by_name = {host["fqdn"].split(".")[0]: lab_hosts[name] for name, host in ost_site["hosts"].items()}
    return lambda hostname: by_name[hostname.split(".")[0]]


@pytest.fixture(scope="session")
def ansible_host0(ost_site, lab_hosts):
    """OST's host-0 is the host the hosted engine was deployed on."""
    return lab_hosts[ost_site["deployment_host"]]


@pytest.fixture(scope="session")
def engine_api(ost_site):
    engine = ost_site["engine"]
    connection = ovirtsdk4.Connection(
        url=engine["url"], username=engine["username"], password=engine["password"], ca_file=engine["ca_file"]
    )
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def hosts_service(engine_api):
    return engine_api.system_service().hosts_service()


@pytest.fixture(scope="session")
def get_vm_service_for_vm(engine_api):
    vms = engine_api.system_service().vms_service()

    def service(name):
        return vms.vm_service(vms.list(search=f"name={name}")[0].id)

    return service


@pytest.fixture(scope="session")
def ost_dc_name(ost_site):
    return ost_site["datacenter"]


@pytest.fixture(scope="session")
def is_node_suite():
    return False
