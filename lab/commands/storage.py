"""Block and Gluster storage as the deployment host and hypervisors see it, for the preflight:
`blockdev --getss DEVICE`, `blkid -p DEVICE`, `multipath -ll`, `iscsiadm` (sendtargets discovery, node
records, node login), `gluster volume info [VOLUME]`, `host NAME|ADDRESS`, and the files
/etc/iscsi/initiatorname.iscsi (initiator) and /etc/target/saveconfig.json (LIO target, on the
storage server) through `cat` when the host has no such file of its own.

Everything comes from the site file's optional top-level `storage:` section (lab/README.md, "Block
and Gluster storage"); formats and exit statuses follow the upstream tools (sources listed there).
"""

import ipaddress
import json
import posixpath
import uuid

from lab.commands import command
from lab.commands.files import generated_file
from lab.transport.shell import Unsupported

SAN_ROLES = ("deployment-host", "hypervisor")
ISCSI_PORT = 3260
# iscsi_err.h (open-iscsi): the statuses iscsiadm exits with.
ISCSI_ERR_TRANS, ISCSI_ERR_INVAL, ISCSI_ERR_NO_OBJS_FOUND, ISCSI_ERR_LOGIN_AUTH_FAILED = 4, 7, 21, 24
NODES_DIR = "/var/lib/iscsi/nodes"
INITIATOR_FILE = "/etc/iscsi/initiatorname.iscsi"
LIO_SAVECONFIG = "/etc/target/saveconfig.json"
# A representative part of glusterfs' extras/group-virt.example (`gluster volume set VOL group virt`).
GROUP_VIRT = {
    "performance.quick-read": "off",
    "performance.read-ahead": "off",
    "performance.io-cache": "off",
    "performance.low-prio-threads": "32",
    "network.remote-dio": "enable",
    "cluster.eager-lock": "enable",
    "cluster.quorum-type": "auto",
    "cluster.server-quorum-type": "server",
    "cluster.data-self-heal-algorithm": "full",
    "cluster.locking-scheme": "granular",
    "cluster.shd-max-threads": "8",
    "cluster.shd-wait-qlength": "10000",
    "features.shard": "on",
    "user.cifs": "off",
    "cluster.choose-local": "off",
    "client.event-threads": "4",
    "server.event-threads": "4",
    "performance.client-io-threads": "on",
}


def section(ctx):
    lab = getattr(ctx.host, "lab", None)
    return (getattr(lab.site, "storage", None) or lab.site.extra.get("storage") if lab is not None else None) or {}


def _lab_hosts(ctx):
    lab = getattr(ctx.host, "lab", None)
    return list(lab.hosts.values()) if lab is not None else [ctx.host]


def visible_luns(ctx):
    """The LUNs this host sees as /dev/mapper/<wwid>: SAN hosts see every LUN unless `hosts` narrows it."""
    found = []
    for lun in section(ctx).get("luns", []) or []:
        hosts = lun.get("hosts")
        if (ctx.host.name in hosts) if hosts is not None else ctx.host.spec.role in SAN_ROLES:
            found.append(lun)
    return found


def _lun_for_device(ctx, device):
    for lun in visible_luns(ctx):
        if device in (f"/dev/mapper/{lun['wwid']}", f"/dev/disk/by-id/dm-uuid-mpath-{lun['wwid']}"):
            return lun
    return None


@command("blockdev")
def blockdev(ctx):
    """util-linux blockdev(8): --getss (logical sector size), --getpbsz, --getsize64."""
    if len(ctx.args) != 2 or ctx.args[0] not in ("--getss", "--getpbsz", "--getsize64"):
        raise Unsupported("blockdev is implemented as: blockdev --getss|--getpbsz|--getsize64 DEVICE")
    lun = _lun_for_device(ctx, ctx.args[1])
    if lun is None:
        ctx.error(f"blockdev: cannot open {ctx.args[1]}: No such file or directory")
        return 1
    size = int(lun.get("block_size", 512))
    value = {
        "--getss": size,
        "--getpbsz": max(size, int(lun.get("physical_block_size", size))),
        "--getsize64": int(lun.get("size_gb", 100)) << 30,
    }[ctx.args[0]]
    ctx.print(str(value))
    return 0


@command("blkid")
def blkid(ctx):
    """util-linux blkid(8) low-level probe, `blkid -p DEVICE`: the signature found, or exit 2 when none."""
    if len(ctx.args) != 2 or ctx.args[0] not in ("-p", "--probe"):
        raise Unsupported("blkid is implemented as: blkid -p DEVICE")
    lun = _lun_for_device(ctx, ctx.args[1])
    if lun is None:
        ctx.error(f"error: {ctx.args[1]}: No such file or directory")
        return 2
    data = lun.get("data")
    if not data:
        return 2  # nothing detected: no output, status 2
    kind = data if isinstance(data, str) else "LVM2_member"
    ident = uuid.uuid5(uuid.NAMESPACE_OID, lun["wwid"])
    fields = {
        "LVM2_member": f'UUID="{ident}" VERSION="LVM2 001" TYPE="LVM2_member" USAGE="raid"',
        "xfs": f'UUID="{ident}" BLOCK_SIZE="512" TYPE="xfs" USAGE="filesystem"',
        "ext4": f'UUID="{ident}" VERSION="1.0" BLOCK_SIZE="4096" TYPE="ext4" USAGE="filesystem"',
    }
    ctx.print(f"{ctx.args[1]}: " + fields.get(kind, f'TYPE="{kind}" USAGE="other"'))
    return 0


@command("multipath")
def multipath(ctx):
    """multipath -ll (device-mapper-multipath): each visible LUN's map with one active path."""
    if ctx.args != ["-ll"]:
        raise Unsupported("multipath is implemented as: multipath -ll")
    for index, lun in enumerate(visible_luns(ctx)):
        vendor = "LIO-ORG" if lun.get("target") else lun.get("vendor", "NETAPP")
        product = lun.get("product", "lun%d" % index)
        ctx.print(f"{lun['wwid']} dm-{index + 2} {vendor},{product}")
        ctx.print(f"size={int(lun.get('size_gb', 100))}G features='0' hwhandler='1 alua' wp=rw")
        ctx.print("`-+- policy='service-time 0' prio=50 status=active")
        letter = "bcdefghijklmnopqrstuvwxyz"[index % 25]
        ctx.print(f"  `- {6 + index}:0:0:0 sd{letter} 8:{16 * (index + 1)} active ready running")
    return 0


# --- iSCSI -------------------------------------------------------------------


def _resolve(ctx, name):
    """An address for NAME from the lab's hosts and DNS records, or None."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    from lab.commands.names import dns_records

    lab = getattr(ctx.host, "lab", None)
    records = dns_records(lab) if lab is not None else []
    return next((a for n, a in records if n.lower() == name.lower()), None)


def _split_portal(portal):
    host, _, port = portal.rpartition(":") if portal.count(":") == 1 else (portal, "", "")
    return (host or portal), int(port or ISCSI_PORT)


def _targets(ctx):
    return section(ctx).get("iscsi", {}).get("targets", []) or []


def _target_portals(target):
    return [_split_portal(p) for p in target.get("portals", [])]


def _initiator(ctx):
    if ctx.fs.exists(INITIATOR_FILE):
        text = ctx.fs.read(INITIATOR_FILE).decode()
        return next(
            (line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith("InitiatorName=")), None
        )
    return (section(ctx).get("iscsi", {}).get("initiators") or {}).get(ctx.host.name)


def _allowed(target, initiator):
    acl = target.get("acl")
    return acl is None or initiator in acl


def _chap_refuses(target, credentials):
    """A target with session CHAP (`chap: {userid, password}` in the site) takes only those credentials."""
    chap = target.get("chap")
    return chap is not None and tuple(credentials) != (chap["userid"], chap["password"])


def _opt(args, short, long):
    for i, arg in enumerate(args):
        if arg in (short, long) and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(long + "="):
            return arg.split("=", 1)[1]
    return None


@command("iscsiadm")
def iscsiadm(ctx):
    """open-iscsi iscsiadm(8): `-m discovery -t sendtargets -p PORTAL[:PORT] [-o nonpersistent]`,
    `-m node` (records), `-m node -T IQN -p PORTAL -l` (login, checked against the target's ACL)."""
    if ctx.host.spec.role not in SAN_ROLES and "iscsi-initiator-utils" not in ctx.host.packages:
        ctx.error("bash: iscsiadm: command not found")
        return 127
    args = ctx.args
    mode = _opt(args, "-m", "--mode")
    if mode in ("discovery", "discoverydb"):
        return _discovery(ctx, args)
    if mode == "node":
        if any(a in ("-l", "--login") for a in args):
            return _login(ctx, args)
        if len(args) != 2:
            raise Unsupported("iscsiadm -m node is implemented as: -m node, and -m node -T IQN -p PORTAL -l")
        records = _records(ctx)
        if not records:
            ctx.error("iscsiadm: No records found")
            return ISCSI_ERR_NO_OBJS_FOUND
        for portal, tpgt, iqn in records:
            ctx.print(f"{portal},{tpgt} {iqn}")
        return 0
    raise Unsupported(f"iscsiadm: mode {mode!r} is not implemented")


def _discovery(ctx, args):
    kind, portal = _opt(args, "-t", "--type"), _opt(args, "-p", "--portal")
    if kind not in ("sendtargets", "st") or not portal:
        raise Unsupported("iscsiadm discovery is implemented as: -m discovery -t sendtargets -p PORTAL[:PORT]")
    name, port = _split_portal(portal)
    address = _resolve(ctx, name)
    if address is None:
        ctx.error(f"iscsiadm: Cannot resolve host {name}. getaddrinfo error: [Name or service not known]")
        ctx.error(f"iscsiadm: cannot resolve host name {name}")
        ctx.error("iscsiadm: Could not perform SendTargets discovery: invalid parameter")
        return ISCSI_ERR_INVAL
    served = [t for t in _targets(ctx) if any(_resolve(ctx, h) == address and p == port for h, p in _target_portals(t))]
    listening = any(
        _resolve(ctx, h) == address and p == port for t in _targets(ctx) for h, p in _target_portals(t)
    ) or address in (section(ctx).get("iscsi", {}).get("portals_without_targets") or [])
    if not listening:
        for _ in range(6):
            ctx.error(f"iscsiadm: cannot make connection to {address}: Connection refused")
        ctx.error("iscsiadm: connection login retries (reopen_max) 5 exceeded")
        ctx.error("iscsiadm: Could not perform SendTargets discovery: encountered connection failure")
        return ISCSI_ERR_TRANS
    if not served:
        ctx.error("iscsiadm: No portals found")
        return ISCSI_ERR_NO_OBJS_FOUND
    persistent = _opt(args, "-o", "--op") != "nonpersistent"
    for target in served:
        tpgt = int(target.get("tpgt", 1))
        for host, p in _target_portals(target):
            line_portal = f"{_resolve(ctx, host)}:{p}"
            ctx.print(f"{line_portal},{tpgt} {target['iqn']}")
            if persistent:
                _record(ctx, line_portal, tpgt, target["iqn"])
    return 0


def _record(ctx, portal, tpgt, iqn):
    path = posixpath.join(NODES_DIR, iqn, f"{portal.replace(':', ',')},{tpgt}")
    ctx.fs.mkdir(path, mode=0o600, parents=True)
    ctx.fs.write(
        posixpath.join(path, "default"),
        (
            f"# BEGIN RECORD 6.2.1.4\nnode.name = {iqn}\nnode.tpgt = {tpgt}\n"
            f"node.conn[0].address = {portal.rsplit(':', 1)[0]}\n"
            f"node.conn[0].port = {portal.rsplit(':', 1)[1]}\n# END RECORD\n"
        ).encode(),
        mode=0o600,
    )


def _records(ctx):
    found = []
    if not ctx.fs.exists(NODES_DIR):
        return found
    for iqn in sorted(ctx.fs.listdir(NODES_DIR)):
        for entry in sorted(ctx.fs.listdir(posixpath.join(NODES_DIR, iqn))):
            address, port, tpgt = entry.rsplit(",", 2)
            found.append((f"{address}:{port}", tpgt, iqn))
    return found


def _login(ctx, args):
    iqn, portal = _opt(args, "-T", "--targetname"), _opt(args, "-p", "--portal")
    records = [
        r
        for r in _records(ctx)
        if (iqn is None or r[2] == iqn)
        and (portal is None or r[0] == f"{_resolve(ctx, _split_portal(portal)[0])}:{_split_portal(portal)[1]}")
    ]
    if not records:
        ctx.error("iscsiadm: No records found")
        return ISCSI_ERR_NO_OBJS_FOUND
    status = 0
    initiator = _initiator(ctx)
    for address, _, name in records:
        target = next((t for t in _targets(ctx) if t["iqn"] == name), None)
        where = f"[iface: default, target: {name}, portal: {address.replace(':', ',')}]"
        ctx.print(f"Logging in to {where}")
        if target is not None and target.get("chap"):
            raise Unsupported("iscsiadm login to a target with CHAP (node.session.auth) is not modelled by the lab")
        if target is not None and _allowed(target, initiator):
            ctx.print(f"Login to {where} successful.")
            continue
        ctx.error(f"iscsiadm: Could not login to {where}.")
        ctx.error("iscsiadm: initiator reported error (24 - iSCSI login failed due to authorization failure)")
        status = ISCSI_ERR_LOGIN_AUTH_FAILED
    if status:
        ctx.error("iscsiadm: Could not log into all portals")
    return status


def _chap_attributes(target):
    """rtslib's NodeACL.dump: the ACL's CHAP credentials as chap_userid and chap_password, when set."""
    chap = target.get("chap")
    return {"chap_userid": chap["userid"], "chap_password": chap["password"]} if chap else {}


def lio_saveconfig(ctx):
    """/etc/target/saveconfig.json as targetcli saves it, for the targets whose portal is this host."""
    own = {ctx.host.spec.address, ctx.host.fqdn}
    targets = []
    for target in _targets(ctx):
        if not any(h in own or _resolve(ctx, h) == ctx.host.spec.address for h, _ in _target_portals(target)):
            continue
        acl = target.get("acl")
        targets.append(
            {
                "fabric": "iscsi",
                "wwn": target["iqn"],
                "tpgs": [
                    {
                        "tag": int(target.get("tpgt", 1)),
                        "enable": True,
                        "attributes": {
                            "generate_node_acls": 0 if acl is not None else 1,
                            "demo_mode_write_protect": 0,
                            "authentication": 1 if target.get("chap") else 0,
                        },
                        "portals": [
                            {"ip_address": _resolve(ctx, h) or h, "port": p, "iser": False}
                            for h, p in _target_portals(target)
                        ],
                        "luns": [
                            {"index": i, "storage_object": f"/backstores/block/{lun}"}
                            for i, lun in enumerate(target.get("luns", []))
                        ],
                        "node_acls": [
                            {
                                "node_wwn": iqn,
                                "mapped_luns": [
                                    {"index": i, "tpg_lun": i, "write_protect": False}
                                    for i, _ in enumerate(target.get("luns", []))
                                ],
                                **_chap_attributes(target),
                            }
                            for iqn in (acl or [])
                        ],
                    }
                ],
            }
        )
    if not targets:
        return None
    return json.dumps({"fabric_modules": [], "storage_objects": [], "targets": targets}, indent=2) + "\n"


@generated_file(INITIATOR_FILE)
def initiator_file(ctx):
    """/etc/iscsi/initiatorname.iscsi from `storage.iscsi.initiators` on SAN hosts."""
    initiator = _initiator(ctx) if ctx.host.spec.role in SAN_ROLES else None
    return f"InitiatorName={initiator}\n".encode() if initiator else None


@generated_file(LIO_SAVECONFIG)
def saveconfig_file(ctx):
    text = lio_saveconfig(ctx)
    return text.encode() if text else None


# --- Gluster -------------------------------------------------------------------


def _gluster_volumes(ctx):
    gluster = section(ctx).get("gluster", {}) or {}
    servers = gluster.get("servers")
    if servers is None:
        servers = [h.name for h in _lab_hosts(ctx) if h.spec.role == "storage"]
    return (gluster.get("volumes", []) or []) if ctx.host.name in servers else None


def volume_options(volume):
    options = {}
    for group in volume.get("groups", []) or []:
        if group == "virt":
            options.update(GROUP_VIRT)
    options.update(
        {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (volume.get("options") or {}).items()}
    )
    return options


def _bool_text(value):
    return {True: "on", False: "off"}.get(value, value)


@command("gluster")
def gluster(ctx):
    """gluster(8) `volume info [VOLUME]`: the CLI's multi-line layout; an unknown volume exits 1."""
    volumes = _gluster_volumes(ctx)
    if volumes is None:
        ctx.error("bash: gluster: command not found")
        return 127
    if ctx.args[:2] != ["volume", "info"] or len(ctx.args) > 3:
        raise Unsupported("gluster is implemented as: gluster volume info [VOLUME]")
    if len(ctx.args) == 3 and ctx.args[2] != "all":
        chosen = [v for v in volumes if v["name"] == ctx.args[2]]
        if not chosen:
            ctx.error(f"Volume {ctx.args[2]} does not exist")
            return 1
    else:
        chosen = volumes
        if not chosen:
            ctx.print("No volumes present")
            return 0
    for volume in chosen:
        bricks = volume.get("bricks") or [f"{ctx.host.fqdn}:/gluster_bricks/{volume['name']}/{volume['name']}"]
        replica = int(volume.get("replica", len(bricks)))
        arbiter = int(volume.get("arbiter", 0))
        ctx.print("")
        ctx.print(f"Volume Name: {volume['name']}")
        if replica > 1:
            sets = len(bricks) // replica
            kind = "Distributed-Replicate" if sets > 1 else "Replicate"
            layout = (
                f"{sets} x ({replica - arbiter} + {arbiter}) = {len(bricks)}"
                if arbiter
                else f"{sets} x {replica} = {len(bricks)}"
            )
        else:
            kind, layout = "Distribute", str(len(bricks))
        ctx.print(f"Type: {kind}")
        ctx.print(f"Volume ID: {uuid.uuid5(uuid.NAMESPACE_URL, 'gluster:' + volume['name'])}")
        ctx.print(f"Status: {volume.get('status', 'Started')}")
        ctx.print("Snapshot Count: 0")
        ctx.print(f"Number of Bricks: {layout}")
        ctx.print("Transport-type: tcp")
        ctx.print("Bricks:")
        for index, brick in enumerate(bricks, 1):
            suffix = " (arbiter)" if arbiter and index % replica == 0 else ""
            ctx.print(f"Brick{index}: {brick}{suffix}")
        options = volume_options(volume)
        ctx.print("Options Reconfigured:")
        for key, value in {**options, "transport.address-family": "inet", "nfs.disable": "on"}.items():
            ctx.print(f"{key}: {_bool_text(value)}")
    return 0


# --- host(1) -------------------------------------------------------------------


@command("host")
def host(ctx):
    """bind-utils host(1): `NAME has address IP`, `REV.in-addr.arpa domain name pointer NAME.`; exit 1 on NXDOMAIN."""
    if len(ctx.args) != 1:
        raise Unsupported("host is implemented as: host NAME|ADDRESS")
    from lab.commands.names import dns_records

    lab = getattr(ctx.host, "lab", None)
    records = dns_records(lab) if lab is not None else []
    key = ctx.args[0].rstrip(".")
    try:
        address = ipaddress.ip_address(key)
    except ValueError:
        address = None
    if address is not None:
        reverse = address.reverse_pointer
        names = [n for n, a in records if a == str(address)]
        if not names:
            ctx.print(f"Host {reverse}. not found: 3(NXDOMAIN)")
            return 1
        for name in dict.fromkeys(names):
            ctx.print(f"{reverse} domain name pointer {name}.")
        return 0
    addresses = [a for n, a in records if n.lower() == key.lower()]
    if not addresses:
        ctx.print(f"Host {key} not found: 3(NXDOMAIN)")
        return 1
    for found in dict.fromkeys(addresses):
        ctx.print(f"{key} has {'IPv6 address' if ':' in found else 'address'} {found}")
    return 0


# --- the hosted-engine storage domain, as the deploy creates it -----------------------------------


def lun(ctx, wwid):
    """A LUN this host sees, by WWID."""
    return next((found for found in visible_luns(ctx) if found["wwid"] == wwid), None)


def iscsi_domain_error(ctx, portal, iqn, wwid, credentials=(None, None)):
    """An iSCSI domain from a host: the target on that portal, a login its ACL allows and, on a target with CHAP,
    one with its (user, password) (else the procedure's STORAGE_DOMAIN_UNREACHABLE), and the LUN on that target."""
    address = _resolve(ctx, str(portal).split(",")[0])
    target = next(
        (
            t
            for t in _targets(ctx)
            if t["iqn"] == iqn and any(_resolve(ctx, h) == address for h, _ in _target_portals(t))
        ),
        None,
    )
    if target is None:
        return f"iSCSI discovery found no target {iqn} on portal {portal}"
    if not _allowed(target, _initiator(ctx)):
        return (
            "Failed to connect the host to the storage: STORAGE_DOMAIN_UNREACHABLE (iSCSI login failed due to "
            f"authorization failure: the target's ACL does not hold {_initiator(ctx)})"
        )
    if _chap_refuses(target, credentials):
        return (
            "Failed to connect the host to the storage: STORAGE_DOMAIN_UNREACHABLE (iSCSI login failed due to "
            f"authorization failure: target {iqn} refuses the CHAP credentials of the connection)"
        )
    if wwid not in (target.get("luns") or []) or lun(ctx, wwid) is None:
        return "Cannot find any LUN on the selected target"
    return None


def fc_domain_error(ctx, wwid):
    found = lun(ctx, wwid)
    if found is None or not found.get("fc"):
        return f"Cannot find any LUN with id {wwid} among the Fibre Channel devices of this host"
    return None


def gluster_domain_error(ctx, connection):
    """A Gluster domain needs a started volume on that server, replica 1 or 3 (the procedure's rule)."""
    server, _, volume = str(connection).strip().partition(":")
    volume = volume.lstrip("/")
    lab = getattr(ctx.host, "lab", None)
    host = next((h for h in (lab.hosts.values() if lab else []) if server in (h.fqdn, h.spec.address, h.name)), None)
    gluster = section(ctx).get("gluster", {}) or {}
    servers = gluster.get("servers") or [h.name for h in _lab_hosts(ctx) if h.spec.role == "storage"]
    found = next((v for v in gluster.get("volumes", []) or [] if v["name"] == volume), None)
    if host is None or host.name not in servers or found is None:
        return f"Problem while trying to mount target: mount -t glusterfs {connection} failed: volume not found"
    if found.get("status", "Started") != "Started":
        return f"Problem while trying to mount target: volume {volume} is not started"
    return None
