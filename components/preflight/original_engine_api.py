"""What the original Engine's API says while it still runs: the data centre, cluster, management network,
the deployment host's past and the data storage domains (prerequisites, procedure 1, 3)."""

from __future__ import annotations

from components.preflight.facts import out
from providers import engine_api

VDSM_ID = "/etc/vdsm/vdsm.id"  # the host's unique id for the Engine, when VDSM has written one
PRODUCT_UUID = "/sys/class/dmi/id/product_uuid"  # else its system UUID (`dmidecode -s system-uuid`)


def check(site, hosts, facts, findings, password, api):
    import ovirtsdk4  # only the API checks need it

    migration = site.migration
    he = migration.hosted_engine
    if api.get("caFile") and api.get("caPem") is None:
        findings.errors.append(
            f"`originalEngineApi.caFile` is {api['caFile']!r}, which does not exist: give the "
            f"original Engine's CA (/etc/pki/ovirt-engine/ca.pem)"
        )
        return
    running = hosts.run(migration.original_engine, "systemctl", "is-active", "ovirt-engine")
    if running is None:
        return
    if running.exit_status != 0:
        findings.notes.append(
            "the original Engine's ovirt-engine is stopped (the backup has been taken), so its "
            "API cannot answer: the management network, data centre, cluster, host and storage "
            "domain checks are skipped"
        )
        return
    if not api["check"]:
        findings.notes.append(
            "`originalEngineApi.check` is false: the management network, data centre, cluster, "
            "host and storage domain checks are skipped"
        )
        return
    if not api.get("caPem"):
        findings.errors.append(
            "the original Engine's API cannot be checked without its CA: set "
            "`originalEngineApi.caFile` (or `engineApi.caFile`) to its /etc/pki/ovirt-engine/ca.pem, "
            "or set `originalEngineApi.check: false` to skip the API checks"
        )
        return
    findings.read.append(
        f"original Engine API {api['url']}: GET networks, datacenters, clusters, hosts, storagedomains"
    )
    try:
        connection = engine_api.connect(
            engine_api.Engine(api["url"], api["username"], api["caPem"]), password, timeout=15
        )
        system = connection.system_service()
        networks = system.networks_service().list()
        datacenters = system.data_centers_service().list()
        clusters = system.clusters_service().list()
        api_hosts = system.hosts_service().list()
        domains = system.storage_domains_service().list()
        facts["api_domains"] = domains  # block_storage: the targets and LUNs other domains use
        facts["api"] = {
            "connection": connection,
            "clusters": clusters,
            "networks": networks,
            "datacenters": datacenters,
            "hosts": api_hosts,
        }
    except ovirtsdk4.Error as err:
        where = "`originalEngineApi.url`" if api["configured"] else f"`originalEngineApi.url` (unset: {api['url']})"
        findings.errors.append(
            f"the original Engine's API at {api['url']} did not answer before the backup ({err}): "
            f"fix {where}, `originalEngineApi.caFile` or `adminPassword`, or set "
            f"`originalEngineApi.check: false` to skip the management network, data centre, cluster "
            f"and storage domain checks"
        )
        return
    dc_names = {dc.id: dc.name for dc in datacenters}
    dc_name = he["dataCenterName"]
    cluster_name = he["clusterName"]
    if dc_name not in dc_names.values():
        findings.errors.append(
            f"`hostedEngine.dataCenterName` is {dc_name}, which the original Engine does not have "
            f"(it has {', '.join(sorted(dc_names.values()))}): name its data centre"
        )
    cluster = next((c for c in clusters if c.name == cluster_name), None)
    if cluster is None:
        findings.errors.append(
            f"`hostedEngine.clusterName` is {cluster_name}, which the original Engine does not have "
            f"(it has {', '.join(sorted(c.name for c in clusters))}): name one of its clusters"
        )
    elif cluster.data_center is not None and dc_names.get(cluster.data_center.id, dc_name) != dc_name:
        findings.errors.append(
            f"cluster {cluster_name} (`hostedEngine.clusterName`) is in data centre "
            f"{dc_names.get(cluster.data_center.id)}, not {dc_name} (`hostedEngine.dataCenterName`)"
        )
    dc_id = next((i for i, n in dc_names.items() if n == dc_name), None)
    mgmt = he["managementNetwork"]
    network = next(
        (n for n in networks if n.name == mgmt and (n.data_center is None or n.data_center.id == dc_id)), None
    )
    if network is None:
        findings.errors.append(
            f"the management network {mgmt} (`hostedEngine.managementNetwork`) does not exist in data "
            f"centre {dc_name} of the original Engine: name it"
        )
    elif "vm" not in {u.value for u in (network.usages or [])}:
        findings.errors.append(
            f"the management network {mgmt} is not a VM network in the original Engine: make it one "
            f"(Network > Edit > VM network) so it can carry the Engine VM (prerequisites)"
        )
    _deployment_host_record(site, hosts, facts, facts["api"], findings)
    data = [
        d
        for d in domains
        if d.type is not None
        and d.type.value == "data"
        and d.name != "hosted_storage"
        and (d.data_centers is None or any(dc.id == dc_id for dc in d.data_centers))
    ]
    if not data:
        findings.warnings.append(
            f"data centre {dc_name} has no data storage domain besides the hosted-engine one: add "
            f"another, or a corrupted domain means redeploying (procedure 3)"
        )


def cluster_networks(read, cluster):
    """GET clusters/ID/networks of the original Engine, once per preview (required_networks and cluster_fit)."""
    cache = read.setdefault("cluster_networks", {})
    if cluster.id not in cache:
        service = read["connection"].system_service().clusters_service().cluster_service(cluster.id)
        cache[cluster.id] = service.networks_service().list()
    return cache[cluster.id]


def _deployment_host_record(site, hosts, facts, read, findings):
    """restore_host_redeploy.yml deletes the deployment host's old record by its name (`hostname -f`, the deploy's
    host name) or its unique id (/etc/vdsm/vdsm.id, else the system UUID: 02_create_local_vm.yml). A record left in
    the target cluster at that name as address makes the Engine refuse the deploy's Add host
    (HostValidator.hostNameNotUsed, per cluster), and the deploy stops after the original Engine has stopped."""
    migration, fqdn = site.migration, facts.get("deploy_fqdn")
    if not fqdn:
        return
    deploy = migration.deployment_host
    unique = (out(hosts.run(deploy, "cat", VDSM_ID)) or out(hosts.run(deploy, "cat", PRODUCT_UUID)) or "").strip()
    removed = [h for h in read["hosts"] if h.name.upper() == fqdn.upper() or (unique and _uuid(h) == unique.upper())]
    if removed:
        findings.warnings.append(
            f"the deployment host is {removed[0].name} in the backed-up environment: it will be removed "
            f"from the restored database (procedure 1); a fresh host is recommended"
        )
    target = {c.id for c in read["clusters"] if c.name == migration.hosted_engine["clusterName"]}
    kept = [h for h in read["hosts"] if h not in removed and h.address == fqdn]
    for host in kept:
        if host.cluster is not None and host.cluster.id in target:
            findings.errors.append(
                f"the original Engine has host {host.name} in cluster {migration.hosted_engine['clusterName']} with "
                f"the deployment host's name {fqdn} as its address, and the restore keeps it (it removes a record "
                f"only by name or unique id, restore_host_redeploy.yml): the Engine would refuse the deploy's Add "
                f"host (Host with the same address already exists) after the original Engine has stopped. Remove "
                f"{host.name} from the original Engine, or rename it {fqdn}, before the backup"
            )
        else:
            findings.warnings.append(
                f"the original Engine has host {host.name} at the deployment host's address {fqdn} in another "
                f"cluster; the restore keeps it beside the new record: remove it after the migration"
            )


def _uuid(host) -> str:
    info = host.hardware_information
    return (info.uuid or "").upper() if info is not None else ""
