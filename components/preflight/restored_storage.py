"""The storage the restored Engine will demand: the deployment host reaches every active storage domain of the data
centre, and the SPM and every Up host of it reach the hosted-engine domain (procedure 6; the restore)."""

from __future__ import annotations

from components.preflight import reach
from components.preflight.facts import out, storage_host
from components.preflight.reach import Lun, Storage
from providers.hosted_engine_deployment import ISCSI_PORT


def check(site, hosts, facts, findings, password, api):
    """Once the restored Engine has the fresh deployment host Up, InitVdsOnUpCommand connects it to every active domain
    of the data centre: one it cannot reach sets it Non Operational (STORAGE_DOMAIN_UNREACHABLE) and the deploy
    pauses inside the outage window. The hosted-engine domain is attached to the data centre by its SPM, and every
    Up host of it must see the domain to stay operational."""
    read = facts.get("api")
    if read is None:
        findings.notes.append(
            "the original Engine's API was not read, so the storage the restored Engine needs is not checked"
        )
        return
    migration = site.migration
    dc_name = migration.hosted_engine["dataCenterName"]
    datacenter = next((dc for dc in read["datacenters"] if dc.name == dc_name), None)
    if datacenter is None:
        return  # original_engine_api names the missing data centre
    deploy = migration.deployment_host
    deploy_names = (facts.get("deploy_fqdn"), facts.get("deploy_address"))
    for domain in _active_domains(read, datacenter, findings, api):
        storage = Storage.of_domain(domain)
        found = reach.problem(site, hosts, deploy, deploy_names, storage)
        if not found:
            continue
        where = (
            f"the deployment host ({deploy}) cannot reach the {domain.type.value} domain {domain.name} "
            f"({storage.describe()}) of data centre {dc_name}: {found}"
        )
        if domain.type.value != "data":  # InitVdsOnUpCommand.proceedVdsStats counts only data domains
            findings.warnings.append(f"{where}; the restored Engine will not use it from there: give {deploy} access")
        elif isinstance(found, reach.Doubt):
            findings.warnings.append(f"{where}, so whether it can is not known: make sure before the backup")
        else:
            findings.errors.append(
                f"{where}. The restored Engine would set it Non Operational (STORAGE_DOMAIN_UNREACHABLE) after the "
                f"original Engine has stopped; give {deploy} access to it before the backup"
            )
    _hosted_engine_domain(site, hosts, read, datacenter, findings, facts)


def _active_domains(read, datacenter, findings, api):
    """The data centre's domains that are active (the ones a host is connected to), as the Engine lists them."""
    findings.read.append(f"original Engine API {api['url']}: GET datacenters/{datacenter.id}/storagedomains")
    service = read["connection"].system_service().data_centers_service().data_center_service(datacenter.id)
    attached = service.storage_domains_service().list()
    return [
        d
        for d in attached
        if d.status is not None and d.status.value == "active" and d.storage is not None and d.storage.type is not None
    ]


def hosted_engine_storage(migration) -> Storage | None:
    """`hostedEngine.storage` as the Engine will keep the domain the deploy creates."""
    storage = migration.hosted_engine["storage"]
    kind = storage["type"]
    if kind in ("nfs", "glusterfs"):
        server, _, path = storage["connection"].partition(":")
        return Storage(kind, server, path)
    if kind == "iscsi":
        return Storage(
            "iscsi",
            luns=(
                Lun(
                    str(storage["lun"]),
                    storage["portal"],
                    int(storage.get("port", ISCSI_PORT)),
                    storage["target"],
                    storage.get("portalUser") or None,  # the deploy's connection keeps the stack's CHAP user
                ),
            ),
        )
    if kind == "fc":
        return Storage("fcp", luns=(Lun(str(storage["lun"])),))
    return None


def _hosted_engine_domain(site, hosts, read, datacenter, findings, facts):
    """The SPM attaches the new domain (AttachStorageDomainToPoolCommand), and every Up host must then reach it."""
    storage = hosted_engine_storage(site.migration)
    if storage is None:
        return
    clusters = {c.id for c in read["clusters"] if c.data_center is not None and c.data_center.id == datacenter.id}
    up = [h for h in read["hosts"] if h.cluster is not None and h.cluster.id in clusters and h.status.value == "up"]
    unchecked = []
    for api_host in up:
        name = storage_host(site, hosts, api_host.address) if api_host.address else None
        name = name or storage_host(site, hosts, api_host.name)
        if name == site.migration.deployment_host:
            continue  # its old record goes with the restore; as the fresh host it is checked above
        if name is None or not api_host.address:
            unchecked.append(api_host.name)
            continue
        address = out(hosts.run(site.migration.deployment_host, "getent", "hosts", api_host.address))
        names = (api_host.address, address.split()[0] if address else api_host.address)
        found = reach.problem(site, hosts, name, names, storage)
        if isinstance(found, reach.Doubt):
            findings.warnings.append(
                f"whether {api_host.name} (`hosts.{name}`) reaches the hosted-engine storage ({storage.describe()}) is "
                f"not known: {found}; make sure before the backup"
            )
        elif found:
            spm = api_host.spm is not None and api_host.spm.status is not None and api_host.spm.status.value == "spm"
            role = "the SPM of" if spm else "an Up host of"
            outcome = (
                "the attach of the hosted-engine storage domain runs on it and fails"
                if spm
                else "the restored Engine would set it Non Operational once the domain is attached"
            )
            findings.errors.append(
                f"{api_host.name} (`hosts.{name}`), {role} data centre {datacenter.name}, cannot reach the hosted-engine "
                f"storage `hostedEngine.storage` ({storage.describe()}): {found}; {outcome}. Give it access before "
                f"the backup"
            )
    if unchecked:
        findings.warnings.append(
            f"the Up host(s) {', '.join(unchecked)} of data centre {datacenter.name} are not in `hosts`, so whether "
            f"they reach the hosted-engine storage ({storage.describe()}) cannot be checked: add them to `hosts`"
        )
