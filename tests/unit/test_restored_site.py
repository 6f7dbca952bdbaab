"""The pure parts of what the restored Engine demands: exports(5) client matching as the preflight reads
`showmount -e`, the CPU types a host fits (the preflight's table and the lab's ServerCPUList agree), the events the
lab's Engine writes for a host that does not fit its cluster."""

from types import SimpleNamespace

import pytest

from components.preflight.cluster_fit import CPU_TYPE_FLAGS
from components.preflight.reach import _exported, nfs_client_allows
from lab.engine_api import host_up, server_cpus


@pytest.mark.parametrize(
    "clients,allowed",
    [
        (["*"], True),
        (["192.0.2.30"], True),
        (["192.0.2.0/24"], True),
        (["*.lab.example"], True),
        (["she-deploy.lab.example"], True),
        (["192.0.2.41", "host1.lab.example"], False),
        (["198.51.100.0/24"], False),
        (["@hypervisors"], None),  # a netgroup: only NIS can answer
        (["@hypervisors", "192.0.2.30"], True),
        (["she-deploy"], True),  # a short name, which the server resolves in its domain
        (["she-deploy2"], False),
    ],
)
def test_nfs_clients_match_as_exports_5_says(clients, allowed):
    assert nfs_client_allows(clients, "she-deploy.lab.example", "192.0.2.30") is allowed


def test_a_subdirectory_of_an_export_mounts_from_the_export_above_it():
    exports = {"/exports", "/exports/data"}
    assert _exported("/exports/data/vm", exports) == "/exports/data"
    assert _exported("/exports/other", exports) == "/exports"
    assert _exported("/export", exports) is None


def test_the_preflights_cpu_table_is_the_labs_server_cpu_list():
    """Two readings of one upstream list, each side its own: they must not drift apart."""
    lab = {name: ",".join(flags) for _, name, flags in server_cpus.cpu_types("4.7")}
    assert CPU_TYPE_FLAGS["4.7"] == lab


def host(flags=(), models=(), fips=False):
    return SimpleNamespace(
        spec=SimpleNamespace(cpu_flags=list(flags), extra={"cpu_models": list(models), "fips": fips})
    )


def cluster(cpu_type="Secure Intel Cascadelake Server Family", fips_mode="undefined"):
    return {"id": "c", "name": "Default", "version": "4.7", "cpu_type": cpu_type, "fips_mode": fips_mode}


def test_a_host_no_cpu_type_fits_is_refused_with_156_and_one_missing_flags_with_515_and_601_for_nx():
    assert host_up._cpu(None, host(["vmx"]), None, cluster()) == [("CPU_TYPE_UNSUPPORTED_IN_THIS_CLUSTER_VERSION", {})]
    lacking = host_up._cpu(
        None, host(["vmx"], ["Skylake-Server", "Cascadelake-Server"]), None, cluster("Intel Skylake Server Family")
    )
    assert lacking == [("VDS_CPU_LOWER_THAN_CLUSTER", {"CpuFlags": "nx"}), ("CPU_FLAGS_NX_IS_MISSING", {})]
    assert host_up._cpu(None, host(["vmx"], ["Cascadelake-Server-noTSX"]), None, cluster()) == []


def test_a_cluster_without_a_fips_mode_takes_the_first_hosts_and_refuses_another():
    found = cluster()
    assert host_up._fips(None, host(fips=True), None, found) == [] and found["fips_mode"] == "enabled"
    assert host_up._fips(None, host(fips=False), None, found) == [("VDS_SET_NONOPERATIONAL", {})]
