"""What the restored Engine demands of a fresh host as it comes Up, in the order ovirt-engine 4.5.7 checks it.

VdsManager refreshes the host's capabilities: HandleVdsCpuFlagsOrClusterChangedCommand (no CPU type of the
cluster's level fits: event 156; the cluster's CPU type misses flags: 515, and 601 when one is `nx`), then
HostNetworkTopologyPersisterImpl (a required network missing: 519). InitVdsOnUpCommand then checks the FIPS mode
(a cluster whose mode is undefined adopts the host's; a mismatch is FIPS_INCOMPATIBLE_WITH_CLUSTER, logged as 517)
and connects the host to every active domain of its data centre (one it cannot reach: 522). The first that fails
sets the host Non Operational; the later ones are not reached.
"""

from lab import reach
from lab.commands.hostfacts import vdsm_cpu_flags
from lab.engine_api import server_cpus
from lab.engine_api.state import attachment
from lab.transport.shell import Unsupported


def refusal(lab, host, state, cluster):
    """[(audit key, values)] the Engine logs as it sets HOST Non Operational in CLUSTER, or [] when it goes Up.
    A cluster whose FIPS mode is undefined takes the host's (InitVdsOnUpCommand.checkFipsMode)."""
    for check in (_cpu, _networks, _fips, _storage):
        found = check(lab, host, state, cluster)
        if found:
            return found
    return []


def _cpu(lab, host, state, cluster):
    version, flags = cluster["version"], vdsm_cpu_flags(host.spec)
    if server_cpus.cpu_types(version) is None:
        raise Unsupported(f"the CPU types of cluster level {version} are not modelled by the lab (only 4.7)")
    if server_cpus.max_server_cpu(version, flags) is None:
        return [("CPU_TYPE_UNSUPPORTED_IN_THIS_CLUSTER_VERSION", {})]
    missing = server_cpus.missing_flags(version, cluster["cpu_type"], flags)
    if missing is None:
        raise Unsupported(f"CPU type {cluster['cpu_type']!r} is not in the lab's ServerCPUList for {version}")
    if not missing:
        return []
    events = [("VDS_CPU_LOWER_THAN_CLUSTER", {"CpuFlags": ", ".join(missing)})]
    return events + ([("CPU_FLAGS_NX_IS_MISSING", {})] if "nx" in missing else [])


def _missing_networks(state, cluster):
    """NetworkMonitoringHelper.getMissingOperationalClusterNetworks for a fresh host, which carries only the
    management network the deploy bridges: the cluster's other networks that are required and operational
    (joined by ',' in the Engine's order of the cluster's networks; the lab sorts them by name)."""
    names = [
        n["name"]
        for n in state["networks"].values()
        if cluster["id"] in n["clusters"]
        and "management" not in n["usages"]
        and attachment(n, cluster["id"])["required"]
        and attachment(n, cluster["id"])["status"] == "operational"
    ]
    return ",".join(sorted(names))


def _networks(lab, host, state, cluster):
    networks = _missing_networks(state, cluster)
    return (
        [("VDS_SET_NONOPERATIONAL_NETWORK", {"ClusterName": cluster["name"], "Networks": networks})] if networks else []
    )


def _fips(lab, host, state, cluster):
    mode = "enabled" if host.spec.extra.get("fips") else "disabled"
    if cluster["fips_mode"] == "undefined":
        cluster["fips_mode"] = mode
    return [] if cluster["fips_mode"] == mode else [("VDS_SET_NONOPERATIONAL", {})]


def _storage(lab, host, state, cluster):
    datacenter = state["datacenters"][cluster["datacenter"]]
    unreachable = [
        d["name"]
        for d in state["storagedomains"].values()
        if d["datacenter"] == datacenter["id"]
        and d["status"] == "active"
        and reach.domain_error(lab, host, d["storage"])
    ]
    if not unreachable:
        return []
    values = {"StorageDomainNames": ", ".join(unreachable), "StoragePoolName": datacenter["name"]}
    return [("VDS_SET_NONOPERATIONAL_DOMAIN", values)]
