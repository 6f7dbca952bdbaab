"""State dicts -> ovirtsdk4.types objects, so XML comes from the SDK's own writers."""

import datetime
import uuid

import ovirtsdk4.types as types

from .links import API_PREFIX
from .state import ROOT_TAG_ID, attachment

_MB = 1024 * 1024
_GB = 1024 * _MB


def href(*parts):
    return "/".join((API_PREFIX,) + parts)


def _link(cls, kind, ident):
    """A reference to another entity, as the engine writes it: id and href only."""
    if ident is None:
        return None
    obj = cls(id=ident)
    obj.href = href(kind, ident)
    return obj


def _identified(obj, *parts):
    obj.href = href(*parts)
    return obj


def _version(text):
    numbers = [int(n) for n in text.split(".")] + [0, 0, 0]
    return types.Version(
        major=numbers[0], minor=numbers[1], build=numbers[2], revision=0, full_version="%s-1.el9" % text
    )


def api(site):
    """GET /ovirt-engine/api: product info, the summary (BackendApiResource.addSummary: vms, hosts, users, storage
    domains, each total/active), special_objects (the blank template and the root tag, both id 0) and the
    authenticated user."""
    state, engine = site.state, site.engine
    up_domains = sum(d["status"] == "active" for d in state["storagedomains"].values())
    summary = types.ApiSummary(
        hosts=_summary_item(state["hosts"].values(), lambda h: h["status"] == "up"),
        vms=_summary_item(state["vms"].values(), lambda v: v["status"] == "up"),
        users=types.ApiSummaryItem(total=len(state["users"]), active=len(site.sessions())),
        storage_domains=types.ApiSummaryItem(total=len(state["storagedomains"]), active=up_domains),
    )
    special = types.SpecialObjects(
        blank_template=_link(types.Template, "templates", ROOT_TAG_ID), root_tag=_link(types.Tag, "tags", ROOT_TAG_ID)
    )
    user = site.request_user()
    obj = types.Api(
        product_info=types.ProductInfo(name="oVirt Engine", vendor="ovirt.org", version=_version(engine["version"])),
        summary=summary,
        special_objects=special,
        time=datetime.datetime.now(datetime.timezone.utc),
        authenticated_user=_link(types.User, "users", user),
        effective_user=_link(types.User, "users", user),
    )
    obj.href = API_PREFIX
    return obj


def _summary_item(entities, active):
    entities = list(entities)
    return types.ApiSummaryItem(total=len(entities), active=sum(bool(active(e)) for e in entities))


def datacenter(site, dc):
    major, minor = (int(n) for n in dc["version"].split("."))
    return _identified(
        types.DataCenter(
            id=dc["id"],
            name=dc["name"],
            local=dc["local"],
            status=types.DataCenterStatus(dc["status"]),
            version=types.Version(major=major, minor=minor),
        ),
        "datacenters",
        dc["id"],
    )


def cluster(site, cl):
    major, minor = (int(n) for n in cl["version"].split("."))
    return _identified(
        types.Cluster(
            id=cl["id"],
            name=cl["name"],
            data_center=_link(types.DataCenter, "datacenters", cl["datacenter"]),
            cpu=types.Cpu(type=cl["cpu_type"]),
            fips_mode=types.FipsMode(cl["fips_mode"]),
            version=types.Version(major=major, minor=minor),
        ),
        "clusters",
        cl["id"],
    )


def vnic_profiles(site):
    """VnicProfileMapper: each profile's name and network; a VM network gets one of its own name when it is added
    (AddNetworkCommand, vnicProfileRequired true by default; VnicProfileHelper names it after the network)."""
    out = []
    for net in sorted(site.state["networks"].values(), key=lambda n: n["name"]):
        for name in net["vnic_profiles"]:
            ident = str(uuid.uuid5(uuid.UUID(net["id"]), "vnicprofile/%s" % name))
            profile = types.VnicProfile(id=ident, name=name, network=_link(types.Network, "networks", net["id"]))
            out.append(_identified(profile, "vnicprofiles", ident))
    return out


def network(site, net, cluster_id=None):
    """A network as restapi's NetworkMapper writes it: `usages` holds `vm` for a VM network, and the cluster roles
    (display, migration, management, default_route, gluster) only under clusters/<id>/networks, where the network
    also carries the cluster link, `display`, `required` and `status` of its network_cluster row; the top-level
    collection (GetAllNetworks) has no cluster row, so none of these."""
    in_cluster = cluster_id is not None
    usages = [u for u in net["usages"] if in_cluster or u == "vm"]
    obj = types.Network(
        id=net["id"],
        name=net["name"],
        mtu=net["mtu"],
        data_center=_link(types.DataCenter, "datacenters", net["datacenter"]),
        usages=[types.NetworkUsage(u) for u in usages],
        vlan=types.Vlan(id=net["vlan"]) if net["vlan"] is not None else None,
    )
    if not in_cluster:
        return _identified(obj, "networks", net["id"])
    attached = attachment(net, cluster_id)
    obj.cluster = _link(types.Cluster, "clusters", cluster_id)
    obj.required = attached["required"]
    obj.display = "display" in net["usages"]
    obj.status = types.NetworkStatus(attached["status"])
    return _identified(obj, "clusters", cluster_id, "networks", net["id"])


def host(site, h, all_content=False):
    """A host as restapi's HostMapper writes it (cpu, os, spm, power_management, version, hardware_information,
    kdump_status...); hosted_engine only with all_content=true and for a host where it is configured, as the engine's
    doPopulate does."""
    datacenter = site.state["clusters"][h["cluster"]]["datacenter"] if h["cluster"] else None
    obj = types.Host(
        id=h["id"],
        name=h["name"],
        comment=h["comment"],
        address=h["address"],
        port=54321,
        protocol=types.HostProtocol.STOMP,
        type=types.HostType(h["type"]),
        status=types.HostStatus(h["status"]),
        status_detail=h["status_detail"],
        cluster=_link(types.Cluster, "clusters", h["cluster"]),
        memory=h["memory_mb"] * _MB,
        max_scheduling_memory=max(site.free_mb(h), 0) * _MB,
        summary=_vm_summary(site, h),
        ssh=types.Ssh(port=22, user=types.User(user_name="root")),
        spm=types.Spm(
            priority=h["spm_priority"],
            status=types.SpmStatus.SPM if site.spm_host(datacenter) == h["id"] else types.SpmStatus.NONE,
        ),
        power_management=types.PowerManagement(**h["power_management"]),
        kdump_status=types.KdumpStatus(h["kdump_status"]),
        cpu=_host_cpu(site, h),
        os=_host_os(h),
        version=_package_version("vdsm", h["vdsm_version"]),
        hardware_information=types.HardwareInformation(
            supported_rng_sources=[types.RngSource.URANDOM],
            **dict(
                h["hardware"],
                uuid=h["hardware"]["uuid"] or h["id"],
                serial_number=h["hardware"]["serial_number"] or h["id"][:8].upper(),
            ),
        ),
        ksm=types.Ksm(enabled=False),
        transparent_huge_pages=types.TransparentHugePages(enabled=True),
        se_linux=types.SeLinux(mode=types.SeLinuxMode.ENFORCING),
        auto_numa_status=types.AutoNumaStatus.DISABLE,
        numa_supported=False,
        update_available=h["update_available"],
        device_passthrough=types.HostDevicePassthrough(enabled=False),
        vgpu_placement=types.VgpuPlacement.CONSOLIDATED,
        reinstallation_required=False,
        ovn_configured=True,
        certificate=types.Certificate(
            organization=_organization(site), subject="O=%s,CN=%s" % (_organization(site), h["address"])
        ),
        external_status=types.ExternalStatus.OK,
    )
    if all_content and h["he"]["configured"]:  # BackendHostsResource.addHostedEngineIfConfigured
        obj.hosted_engine = types.HostedEngine(**h["he"])
    return _identified(obj, "hosts", h["id"])


def _vm_summary(site, h):
    vms = site.running_vms(h["id"])
    return types.VmSummary(total=len(vms), active=len(vms), migrating=sum(v["status"] == "migrating" for v in vms))


def _host_cpu(site, h):
    """HostMapper: topology cores and threads per socket and per core from VDSM's totals."""
    cpu, cluster = h["cpu"], site.state["clusters"].get(h["cluster"] or "")
    return types.Cpu(
        name=cpu["name"],
        type=cluster["cpu_type"] if cluster else None,
        speed=float(cpu["speed"]),
        topology=types.CpuTopology(sockets=cpu["sockets"], cores=cpu["cores"], threads=cpu["threads"]),
    )


def _host_os(h):
    """mapOperatingSystem: type and version from VDSM's "NAME - VERSION - RELEASE", description the pretty name,
    custom_kernel_cmdline "" when there is none."""
    os_, numbers = h["os"], [int(n) for n in h["os"]["version"].split(".")]
    version = types.Version(
        major=numbers[0],
        minor=numbers[1] if len(numbers) > 1 else None,
        full_version="%s - %s" % (os_["version"], os_["release"]),
    )
    return types.OperatingSystem(
        type=os_["type"], version=version, description=os_["description"], custom_kernel_cmdline=h["kernel_cmdline"]
    )


def _package_version(package, text):
    """A package's version as HostMapper writes VDSM's: numbers, and the rpm name as full_version."""
    numbers = [int(n) for n in text.split("-")[0].split(".")] + [0, 0, 0, 0]
    return types.Version(
        major=numbers[0],
        minor=numbers[1],
        build=numbers[2],
        revision=numbers[3],
        full_version="%s-%s" % (package, text),
    )


def _organization(site):
    """The organisation of the Engine's CA subject (engine-setup: the Engine FQDN's domain)."""
    return site.engine["fqdn"].partition(".")[2] or site.engine["fqdn"]


def _host_storage(spec):
    kind = types.StorageType(spec.get("type", "nfs"))
    obj = types.HostStorage(
        type=kind,
        address=spec.get("address"),
        path=spec.get("path"),
        nfs_version=types.NfsVersion(spec["nfs_version"]) if spec.get("nfs_version") else None,
        mount_options=spec.get("mount_options"),
        vfs_type="glusterfs" if kind == types.StorageType.GLUSTERFS else spec.get("vfs_type"),
    )
    if kind in (types.StorageType.ISCSI, types.StorageType.FCP):
        # BackendStorageDomainsResource.mapVolumeGroupIscsi/Fcp (4.5.7; the attached domains of a data centre too):
        # a block domain's LUNs are its volume group's, each with its connection and, for iSCSI, the connection's CHAP
        # user (StorageLogicalUnitMapper; its password is never shown); `storage.logical_units` is left unset.
        units = [
            types.LogicalUnit(
                id=lun["id"],
                address=lun.get("address"),
                port=lun.get("port"),
                target=lun.get("target"),
                username=lun.get("username") if kind == types.StorageType.ISCSI else None,
                size=lun.get("size"),
            )
            for lun in spec.get("logical_units", [])
        ]
        obj.volume_group = types.VolumeGroup(id=spec.get("volume_group"), logical_units=units)
    return obj


def storage_domain(site, sd, datacenter_id=None):
    """Top-level domains omit status when attached: the engine reports status per data center."""
    obj = types.StorageDomain(
        id=sd["id"],
        name=sd["name"],
        type=types.StorageDomainType(sd["type"]),
        storage=_host_storage(sd["storage"]),
        master=sd["master"],
        storage_format=types.StorageFormat.V5,
        comment=sd["comment"],
        description=sd["description"],
        external_status=types.ExternalStatus.OK,
        **site.domain_space(sd),
    )
    if sd["datacenter"]:
        obj.data_centers = [_link(types.DataCenter, "datacenters", sd["datacenter"])]
    if datacenter_id is not None:
        obj.data_center = _link(types.DataCenter, "datacenters", datacenter_id)
        obj.status = types.StorageDomainStatus(sd["status"])
        return _identified(obj, "datacenters", datacenter_id, "storagedomains", sd["id"])
    if not sd["datacenter"]:
        obj.status = types.StorageDomainStatus.UNATTACHED
    return _identified(obj, "storagedomains", sd["id"])


def placement_hosts(v):
    """The hosts of a VM's placement policy (the engine's dedicated_vm_for_vds); a state written before the model
    had `placement_hosts` pins a pinned VM to the host it runs on."""
    if v.get("placement_hosts") is not None:
        return v["placement_hosts"]
    return [v["host"]] if v["placement"] == "pinned" and v["host"] else []


def vm(site, v):
    """VmBaseMapper: placement_policy always, its affinity from the VM's migration support (MIGRATABLE: migratable,
    IMPLICITLY_NON_MIGRATABLE: user_migratable, PINNED_TO_HOST: pinned), its hosts only when it names some."""
    affinity = types.VmAffinity(v["placement"])
    pinned_hosts = [_link(types.Host, "hosts", h) for h in placement_hosts(v) if h in site.state["hosts"]] or None
    running = v["status"] not in ("down", "suspended")
    return _identified(
        types.Vm(
            id=v["id"],
            name=v["name"],
            status=types.VmStatus(v["status"]),
            origin=v["origin"],
            memory=v["memory_mb"] * _MB,
            comment=v["comment"],
            description=v["description"],
            fqdn=v["fqdn"] if running else None,
            cluster=_link(types.Cluster, "clusters", v["cluster"]),
            host=_link(types.Host, "hosts", v["host"]) if running else None,
            placement_policy=types.VmPlacementPolicy(affinity=affinity, hosts=pinned_hosts),
        ),
        "vms",
        v["id"],
    )


def action():
    """The body answered to a successful action."""
    return types.Action(status="complete")


def fault(reason, detail):
    return types.Fault(reason=reason, detail=detail)


def event(site, e):
    """An audit log entry as restapi's EventMapper writes it: id and index the audit_log_id, code, severity, time,
    description, origin, correlation_id, and the user, host and VM it is about (id and name)."""
    host, vm, user = (
        site.state[kind].get(e.get(key) or "") for kind, key in (("hosts", "host"), ("vms", "vm"), ("users", "user"))
    )
    return _identified(
        types.Event(
            id=e["id"],
            index=int(e["id"]),
            code=e.get("code", 0),
            description=e["description"],
            severity=types.LogSeverity(e.get("severity", "normal")),
            origin=e.get("origin", "oVirt"),
            correlation_id=e.get("correlation_id"),
            custom_id=-1,
            flood_rate=30,
            time=datetime.datetime.fromtimestamp(e["time"], datetime.timezone.utc),
            host=_named(types.Host, "hosts", host),
            vm=_named(types.Vm, "vms", vm),
            user=_named(types.User, "users", user, "user_name"),
        ),
        "events",
        e["id"],
    )


def _named(cls, kind, entity, name="name"):
    """EventMapper's references carry the name beside the id (a user's: user@authz)."""
    if entity is None:
        return None
    obj = _link(cls, kind, entity["id"])
    obj.name = entity[name]
    return obj
