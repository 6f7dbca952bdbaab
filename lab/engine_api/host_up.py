"""What the restored Engine demands of a fresh host as it comes Up, in the order ovirt-engine 4.5.7 checks it.

VdsManager.processRefreshCapabilitiesResponse judges the host's capabilities: first the network compliance
(HostNetworkTopologyPersisterImpl: a required network missing, 519), then, for a host not yet Up, its hardware
(HandleVdsCpuFlagsOrClusterChangedCommand: no CPU type of the cluster's level fits, 156; the cluster's CPU type
misses flags, 515, and 601 when one is `nx`), then VdsManager.handleRefreshCapabilitiesResponse's HandleVdsVersionCommand
(a cluster level the host's VDSM does not report in clusterLevels, 154); all are logged. Only a host that passes comes Up, and then
InitVdsOnUpCommand checks the FIPS mode (a cluster whose mode is undefined adopts the host's; a mismatch is
FIPS_INCOMPATIBLE_WITH_CLUSTER, logged as 517) and connects it to the data centre's active domains (a data domain
it cannot reach: 522; proceedVdsStats ignores ISO and export domains); the first of these that fails ends it.
"""

from lab import reach
from lab.commands.hostfacts import vdsm_cluster_levels, vdsm_cpu_flags
from lab.engine_api import server_cpus
from lab.engine_api.state import attachment
from lab.transport.shell import Unsupported


def refusal(lab, host, state, cluster):
    """[(audit key, values)] the Engine logs as it sets HOST Non Operational in CLUSTER, or [] when it goes Up.
    A cluster whose FIPS mode is undefined takes the host's (InitVdsOnUpCommand.checkFipsMode)."""
    found = _networks(lab, host, state, cluster) + _cpu(lab, host, state, cluster) + _version(host, cluster)
    if found:  # both are logged: the refreshed capabilities are judged in full before the host may come Up
        return found
    for check in (_fips, _storage):
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


def _version(host, cluster):
    """HandleVdsVersionCommand: its first test (the VDSM's X.Y in SupportedVDSMVersions 4.20 to 4.50, or the Engine's
    in supportedENGINEs) passes for every VDSM the lab models; then VersionSupport.checkClusterVersionSupported."""
    levels = vdsm_cluster_levels(host)
    if cluster["version"] in levels:
        return []
    values = {"ClusterName": cluster["name"], "CompatibilityVersion": cluster["version"]}
    values["VdsSupportedVersions"] = ",".join(levels)  # VdsBrokerObjectsBuilder: the array joined by commas
    return [("VDS_CLUSTER_VERSION_NOT_SUPPORTED", values)]


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
        and d["type"] == "data"  # proceedVdsStats: an unreachable ISO or export domain does not count
        and d["status"] == "active"
        and reach.domain_error(lab, host, d["storage"])
    ]
    if not unreachable:
        return []
    values = {"StorageDomainNames": ", ".join(unreachable), "StoragePoolName": datacenter["name"]}
    return [("VDS_SET_NONOPERATIONAL_DOMAIN", values)]
