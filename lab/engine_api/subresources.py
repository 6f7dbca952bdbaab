"""What hangs under a host or VM (statistics, NICs, disk attachments, reported devices) and the system-wide
collections (disks, tags, roles, users, jobs), as ovirtsdk4 types for the SDK's writers."""

import datetime
import hashlib
import uuid

import ovirtsdk4.types as types

from . import catalog
from .render import _MB, _identified, _link, _named
from .state import GIB, ROOT_TAG_ID

# restapi HostStatisticalQuery / VmStatisticalQuery: name, description, unit, value type (all gauges but
# elapsed.time, a counter).
HOST_STATISTICS = (
    ("memory.total", "Total memory", "bytes", "integer"),
    ("memory.used", "Used memory", "bytes", "integer"),
    ("memory.free", "Free memory", "bytes", "integer"),
    (
        "memory.shared",
        "The amount of memory, in bytes, shared among Virtual-Machines on this Host by Kernel Same-page Merging (KSM)",
        "bytes",
        "integer",
    ),
    ("swap.total", "Total swap", "bytes", "integer"),
    ("swap.free", "Free swap", "bytes", "integer"),
    ("swap.used", "Used swap", "bytes", "integer"),
    ("ksm.cpu.current", "KSM CPU usage", "percent", "decimal"),
    ("cpu.current.user", "User CPU usage", "percent", "decimal"),
    ("cpu.current.system", "System CPU usage", "percent", "decimal"),
    ("cpu.current.idle", "Idle CPU usage", "percent", "decimal"),
    ("cpu.load.avg.5m", "CPU 5 minute load average", "percent", "decimal"),
    ("boot.time", "Boot time of the machine", "none", "integer"),
)
VM_STATISTICS = (
    ("memory.installed", "Total memory configured", "bytes", "integer"),
    ("memory.used", "Memory used (agent)", "bytes", "integer"),
    ("cpu.current.guest", "CPU used by guest", "percent", "decimal"),
    ("cpu.current.hypervisor", "CPU overhead", "percent", "decimal"),
    ("cpu.current.total", "Total CPU used", "percent", "decimal"),
    ("elapsed.time", "Elapsed VM runtime", "seconds", "integer"),
)


def statistic_id(name):
    """StatisticResourceUtils: Java's UUID.nameUUIDFromBytes(name), an MD5 name-based (version 3) UUID."""
    return str(uuid.UUID(bytes=hashlib.md5(name.encode()).digest(), version=3))


def _statistics(table, values, owner_kind, owner_id, owner_cls):
    out = []
    for name, description, unit, value_type in table:
        obj = types.Statistic(
            id=statistic_id(name),
            name=name,
            description=description,
            kind=types.StatisticKind.COUNTER if name == "elapsed.time" else types.StatisticKind.GAUGE,
            unit=types.StatisticUnit(unit),
            type=types.ValueType(value_type),
            values=[types.Value(datum=float(values[name]))],
        )
        setattr(obj, owner_kind[:-1], _link(owner_cls, owner_kind, owner_id))
        out.append(_identified(obj, owner_kind, owner_id, "statistics", obj.id))
    return out


def host_statistics(site, h):
    """The VMs running on the host use its memory; the lab's hosts are otherwise idle."""
    total = h["memory_mb"] * _MB
    used = (h["memory_mb"] - max(site.free_mb(h), 0)) * _MB
    values = dict.fromkeys((n for n, *_ in HOST_STATISTICS), 0)
    values.update({"memory.total": total, "memory.used": used, "memory.free": total - used, "cpu.current.idle": 100})
    return _statistics(HOST_STATISTICS, values, "hosts", h["id"], types.Host)


def vm_statistics(site, v):
    running = v["status"] not in ("down", "suspended")
    values = dict.fromkeys((n for n, *_ in VM_STATISTICS), 0)
    values["memory.installed"] = v["memory_mb"] * _MB
    values["memory.used"] = v["memory_mb"] * _MB // 4 if running else 0
    return _statistics(VM_STATISTICS, values, "vms", v["id"], types.Vm)


def mac(kind, entity_id, index):
    """A stable MAC for a NIC: the lab's, inside the 56:6f prefix of the engine's default MAC pool range."""
    digest = hashlib.sha256(("%s/%s/%d" % (kind, entity_id, index)).encode()).digest()
    return "56:6f:" + ":".join("%02x" % b for b in digest[:4])


def _network(site, name):
    return next((n for n in site.state["networks"].values() if n["name"] == name), None)


def host_nics(site, h):
    """HostNicMapper: name, MAC, speed (bits/s), status, MTU, bridged, the network attached over it."""
    out = []
    for index, nic in enumerate(h["nics"]):
        ident = str(uuid.uuid5(uuid.UUID(h["id"]), "nic/%s" % nic["name"]))
        net = _network(site, nic.get("network"))
        obj = types.HostNic(
            id=ident,
            name=nic["name"],
            mac=types.Mac(address=mac("hosts", h["id"], index)),
            speed=nic["speed_mbps"] * 1000 * 1000,
            status=types.NicStatus.UP,
            mtu=1500,
            bridged=net is not None and "vm" in net["usages"],
            boot_protocol=types.BootProtocol.DHCP,
            host=_link(types.Host, "hosts", h["id"]),
            network=_link(types.Network, "networks", net["id"]) if net else None,
        )
        out.append(_identified(obj, "hosts", h["id"], "nics", ident))
    return out


def vm_nics(site, v):
    """NicMapper: name, interface, MAC, linked/plugged, the VM."""
    out = []
    for index, nic in enumerate(v["nics"]):
        ident = str(uuid.uuid5(uuid.UUID(v["id"]), "nic/%s" % nic["name"]))
        obj = types.Nic(
            id=ident,
            name=nic["name"],
            interface=types.NicInterface.VIRTIO,
            linked=True,
            plugged=True,
            mac=types.Mac(address=mac("vms", v["id"], index)),
            synced=True,
            vm=_link(types.Vm, "vms", v["id"]),
        )
        out.append(_identified(obj, "vms", v["id"], "nics", ident))
    return out


def reported_devices(site, v):
    """What the guest agent reports of a running VM: its network interfaces (ReportedDeviceMapper)."""
    if v["status"] in ("down", "suspended"):
        return []
    out = []
    for index, nic in enumerate(v["nics"]):
        ident = str(uuid.uuid5(uuid.UUID(v["id"]), "reported/%s" % nic["name"]))
        obj = types.ReportedDevice(
            id=ident,
            name="eth%d" % index,
            type=types.ReportedDeviceType.NETWORK,
            mac=types.Mac(address=mac("vms", v["id"], index)),
            ips=[types.Ip(address=v["address"], version=types.IpVersion.V4)] if v["address"] else None,
            vm=_link(types.Vm, "vms", v["id"]),
        )
        out.append(_identified(obj, "vms", v["id"], "reporteddevices", ident))
    return out


def disk_attachments(site, v):
    """DiskAttachmentMapper: the id is the disk's; active, bootable, interface and the flags."""
    return [
        _identified(
            types.DiskAttachment(
                id=d["id"],
                active=True,
                bootable=d["bootable"],
                interface=types.DiskInterface(d["interface"]),
                pass_discard=False,
                read_only=False,
                uses_scsi_reservation=False,
                disk=_link(types.Disk, "disks", d["id"]),
                vm=_link(types.Vm, "vms", v["id"]),
            ),
            "vms",
            v["id"],
            "diskattachments",
            d["id"],
        )
        for d in site.list("disks", vm=v["id"])
    ]


def disk(site, d):
    """DiskMapper for an image disk: sizes, format, sparse, status, its storage domain."""
    return _identified(
        types.Disk(
            id=d["id"],
            name=d["name"],
            alias=d["name"],
            description=d["description"],
            provisioned_size=d["size_gb"] * GIB,
            actual_size=d["used_gb"] * GIB,
            total_size=d["used_gb"] * GIB,
            format=types.DiskFormat(d["format"]),
            sparse=d["sparse"],
            status=types.DiskStatus.OK,
            storage_type=types.DiskStorageType.IMAGE,
            content_type=types.DiskContentType.DATA,
            shareable=False,
            wipe_after_delete=False,
            propagate_errors=False,
            qcow_version=types.QcowVersion.QCOW2_V3,
            image_id=str(uuid.uuid5(uuid.UUID(d["id"]), "image")),
            storage_domains=[_link(types.StorageDomain, "storagedomains", d["storage_domain"])]
            if d["storage_domain"]
            else None,
        ),
        "disks",
        d["id"],
    )


def tag(site, t):
    return _identified(
        types.Tag(
            id=t["id"], name=t["name"], description=t["description"], parent=_link(types.Tag, "tags", t["parent"])
        ),
        "tags",
        t["id"],
    )


def root_tag():
    """BackendTagsResource lists the root tag first (GetRootTag)."""
    return _identified(types.Tag(id=ROOT_TAG_ID, name="root", description="root"), "tags", ROOT_TAG_ID)


def tags(site, entity=None):
    """Every tag, or those of a host or VM (its tags sub-collection)."""
    if entity is not None:
        return [tag(site, site.state["tags"][t]) for t in entity["tags"] if t in site.state["tags"]]
    return [root_tag()] + [tag(site, t) for t in site.list("tags")]


def roles():
    return [
        _identified(
            types.Role(
                id=ident, name=name, description=description, mutable=False, administrative=kind == catalog.ADMIN
            ),
            "roles",
            ident,
        )
        for ident, name, description, kind in catalog.ROLES
    ]


def user(site, u):
    """UserMapper: name, user_name (user@authz), domain, principal, namespace."""
    return _identified(
        types.User(
            id=u["id"],
            name=u["name"],
            user_name=u["user_name"],
            principal=u["principal"],
            namespace=u["namespace"],
            domain_entry_id=u["id"],
            domain=types.Domain(name=u["domain"]),
        ),
        "users",
        u["id"],
    )


def job(site, j):
    """JobMapper: description, status, times, owner, auto_cleared, external."""

    def when(t):
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc) if t else None

    owner = site.state["users"].get(j["owner"] or "")
    return _identified(
        types.Job(
            id=j["id"],
            description=j["description"],
            status=types.JobStatus(j["status"]),
            start_time=when(j["start_time"]),
            end_time=when(j["end_time"]),
            last_updated=when(j["last_updated"]),
            auto_cleared=j["auto_cleared"],
            external=j["external"],
            owner=_named(types.User, "users", owner, "user_name"),
        ),
        "jobs",
        j["id"],
    )
