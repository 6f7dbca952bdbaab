"""The target cluster's required networks: a fresh deployment host carries only the management network, and the
restored Engine sets a host that lacks a required one Non Operational (procedure 6, the restore)."""

from __future__ import annotations

from components.preflight import original_engine_api as engine_api_check
from components.preflight.facts import out

# Where the ovirt-ansible-collection rpm installs the role that HE-setup runs; the role includes every
# hooks/after_add_host/*.yml after adding the host and before waiting for it to be Up (its README, "Hooks").
AFTER_ADD_HOST = (
    "/usr/share/ansible/collections/ansible_collections/ovirt/ovirt/roles/hosted_engine_setup/hooks/after_add_host"
)


def check(site, hosts, facts, findings, password, api):
    """Procedure 6: every network that cluster `hostedEngine.clusterName` requires, other than its management
    network (the deploy puts that one on the host), is one the fresh deployment host lacks, so the restored Engine
    would set it Non Operational (NETWORK_UNREACHABLE) and the deploy would stop."""
    import ovirtsdk4  # only the API checks need it

    he = site.migration.hosted_engine
    cluster_name = he["clusterName"]
    read = facts.get("api")
    if read is None:
        findings.notes.append(
            f"the original Engine's API was not read, so the networks cluster {cluster_name} requires are not checked"
        )
        return
    cluster = next((c for c in read["clusters"] if c.name == cluster_name), None)
    if cluster is None:
        findings.notes.append(
            f"cluster {cluster_name} (`hostedEngine.clusterName`) is not in the original Engine, so "
            f"its required networks are not checked"
        )
        return
    findings.read.append(f"original Engine API {api['url']}: GET clusters/{cluster.id}/networks")
    try:
        networks = engine_api_check.cluster_networks(read, cluster)
    except ovirtsdk4.Error as err:
        findings.errors.append(
            f"the original Engine's API did not list the networks of cluster {cluster_name} "
            f"(`hostedEngine.clusterName`): {err}; they must be known before the backup"
        )
        return
    management = [n.name for n in networks if "management" in _usages(n)] or [he.get("managementNetwork", "ovirtmgmt")]
    # NetworkMonitoringHelper.getMissingOperationalClusterNetworks: required and operational in the cluster
    missing = sorted(
        n.name
        for n in networks
        if n.required and n.name not in management and (n.status is None or n.status.value == "operational")
    )
    if not missing:
        return
    deploy = site.migration.deployment_host
    listed = ", ".join(missing)
    problem = (
        f"cluster {cluster_name} (`hostedEngine.clusterName`) requires the network(s) {listed}, which the fresh "
        f"deployment host ({deploy}) will not have: the deploy puts only the management network "
        f'{management[0]} on it, so the restored Engine sets the host Non Operational (event 519: "does not '
        f"comply with the cluster {cluster_name} networks, the following networks are missing on host: "
        f"'{','.join(missing)}'\") and the deploy pauses until it is Up, then fails"
    )
    hooks = out(hosts.run(deploy, "ls", "-1", AFTER_ADD_HOST))
    hooks = sorted(name for name in (hooks or "").split() if name.endswith(".yml"))
    if hooks:
        findings.warnings.append(
            f"{problem}, unless the role's after_add_host hook(s) on {deploy} "
            f"({', '.join(hooks)} in {AFTER_ADD_HOST}) attach {listed} to the host and activate it: "
            f"make sure they do"
        )
        return
    findings.errors.append(
        f"{problem}. Before the backup, make them not required in cluster {cluster_name} (Compute > "
        f"Clusters > {cluster_name} > Logical Networks > Manage Networks: clear Require), and require "
        f"them again once the new host carries them; or put an after_add_host hook on {deploy} that "
        f"attaches them and activates the host ({AFTER_ADD_HOST}/*.yml, as the hosted_engine_setup "
        f"role's examples/required_networks_fix.yml does)"
    )


def _usages(network) -> set[str]:
    return {u.value for u in (network.usages or [])}
