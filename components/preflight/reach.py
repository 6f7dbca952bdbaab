"""Whether a host of the site can reach a storage domain, read-only, as it will have to once the restored Engine
connects it: an NFS export listed for it (`showmount -e`), an iSCSI target its portal offers and whose ACL holds the
host's IQN, an FC LUN it sees, a Gluster volume that is started. Each answer is a problem sentence, or None."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import posixpath
import re
from dataclasses import dataclass

from components.preflight.facts import out, storage_host
from providers.hosted_engine_deployment import ISCSI_PORT

LIO_SAVECONFIG = "/etc/target/saveconfig.json"
INITIATOR_FILE = "/etc/iscsi/initiatorname.iscsi"


class Doubt(str):
    """Why reachability could not be decided from here (a command that failed, a device not set up yet): said as a
    warning, not as an error."""


@dataclass(frozen=True)
class Lun:
    id: str
    address: str | None = None
    port: int | None = None
    target: str | None = None
    username: str | None = None  # the iSCSI connection's CHAP user, as the Engine keeps it


def domain_units(domain) -> list:
    """A block domain's LUNs as the API gives them: its volume group's logical units (BackendStorageDomainsResource
    mapVolumeGroupIscsi/Fcp), one per connection."""
    group = domain.storage.volume_group if domain.storage is not None else None
    return list(group.logical_units or []) if group is not None else []


@dataclass(frozen=True)
class Storage:
    """A storage domain's connection as the Engine keeps it (HostStorage): file domains by server and path, block
    domains by their LUNs."""

    type: str
    address: str | None = None
    path: str | None = None
    luns: tuple = ()

    @classmethod
    def of_domain(cls, domain) -> Storage:
        """From an ovirtsdk4 StorageDomain."""
        storage = domain.storage
        luns = tuple(Lun(u.id, u.address, u.port, u.target, u.username) for u in domain_units(domain))
        return cls(storage.type.value, storage.address, storage.path, luns)

    def describe(self) -> str:
        if self.type in ("iscsi", "fcp"):
            return f"{self.type} LUN(s) {', '.join(u.id for u in self.luns)}"
        return f"{self.type} {self.address}:{self.path}"


def nfs_client_allows(clients: list[str], fqdn: str | None, address: str | None) -> bool | None:
    """exports(5) "Machine Name Formats" against the host's name and address: True, False, or None when a netgroup
    (which only NIS can answer) decides."""
    undecided = False
    for client in clients:
        if client.startswith("@"):
            undecided = True
        elif "/" in client:
            try:
                if address and ipaddress.ip_address(address) in ipaddress.ip_network(client, strict=False):
                    return True
            except ValueError:
                continue
        elif client == address or (fqdn and _name_matches(fqdn.lower(), client.lower())):
            return True
    return None if undecided else False


def _name_matches(fqdn: str, client: str) -> bool:
    """A wildcard or full name, or a short name, which the server resolves in its own domain."""
    return fnmatch.fnmatchcase(fqdn, client) or ("." not in client and fqdn.split(".")[0] == client)


def _exported(path: str, exports) -> str | None:
    """The export PATH is mounted from: itself, or the export above it (a subdirectory of an export mounts)."""
    above = [e for e in exports if path == e or path.startswith(e.rstrip("/") + "/")]
    return max(above, key=len) if above else None


def problem(site, hosts, host: str, names: tuple, storage: Storage) -> str | None:
    """Why HOST (a `hosts` key; `names` its FQDN and address) cannot reach STORAGE (a Doubt when it cannot be
    decided), or None (reachable, or nothing to go on: then nothing is claimed)."""
    if storage.type == "nfs":
        return _nfs(site, hosts, host, names, storage)
    if storage.type == "glusterfs":
        return _gluster(site, hosts, storage)
    if storage.type == "iscsi":
        return next((p for u in storage.luns if (p := _iscsi(site, hosts, host, u))), None)
    if storage.type == "fcp":
        return next((p for u in storage.luns if (p := _fc(hosts, host, u))), None)
    return None


def _nfs(site, hosts, host, names, storage):
    path = posixpath.normpath(storage.path or "/")
    server = storage_host(site, hosts, storage.address)
    under = _exported(path, {posixpath.normpath(e.path) for e in site.storage_exports if e.host == server})
    prepared = [e for e in site.storage_exports if e.host == server and posixpath.normpath(e.path) == under]
    if prepared:  # `up` exports it first, to these clients
        clients = [c for e in prepared for c in re.split(r"[\s,]+", e.clients.strip()) if c]
        allowed = nfs_client_allows(clients, *names)
        return None if allowed is not False else f"`storageExports` exports {path} only to {', '.join(clients)}"
    listing = hosts.run(host, "showmount", "-e", storage.address)
    if listing is None:
        return None
    if listing.exit_status != 0:
        # an NFSv4-only server does not answer it
        return Doubt(f"`showmount -e {storage.address}` fails there: {(listing.stderr or listing.stdout).strip()}")
    exported = {
        posixpath.normpath(line.split()[0]): line.split()[1].split(",")
        for line in listing.stdout.splitlines()[1:]
        if len(line.split()) >= 2
    }
    export = _exported(path, exported)
    if export is None:
        return f"{storage.address} does not export {path} (`showmount -e {storage.address}`)"
    if nfs_client_allows(exported[export], *names) is False:
        return f"{storage.address} exports {export} only to {','.join(exported[export])}"
    return None


def _gluster(site, hosts, storage):
    volume = (storage.path or "").strip("/")
    server = storage_host(site, hosts, storage.address)
    info = hosts.run(server, "gluster", "volume", "info", volume) if server and volume else None
    if info is None:
        return None
    if info.exit_status != 0:
        return Doubt(
            f"`gluster volume info {volume}` on {storage.address} fails: {(info.stderr or info.stdout).strip()[-200:]}"
        )
    if not re.search(r"^Status:\s*Started", info.stdout, re.M):
        return f"Gluster volume {volume} on {storage.address} is not started"
    return None


def _iscsi(site, hosts, host, unit):
    portal = f"{unit.address}:{unit.port or ISCSI_PORT}"
    found = hosts.run(host, "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", portal, "-o", "nonpersistent")
    if found is None:
        return None
    if found.exit_status != 0:
        detail = ((found.stderr or found.stdout).strip().splitlines() or [""])[-1]
        return Doubt(  # a portal behind discovery CHAP refuses it too
            f"iSCSI discovery at {portal} fails there (`iscsiadm -m discovery` exit {found.exit_status}: {detail})"
        )
    offered = [line.split()[1] for line in found.stdout.splitlines() if len(line.split()) == 2]
    if unit.target not in offered:
        return f"the portal {portal} does not offer it the target {unit.target}"
    acl = target_acl(site, hosts, unit.address, unit.target)
    iqn = initiator(hosts, host)
    if acl is not None and iqn not in acl:
        return (
            f"target {unit.target} filters by initiator ACL and its IQN {iqn or '(none)'} is not in it "
            f"(STORAGE_DOMAIN_UNREACHABLE, procedure 6): add the IQN to the target's ACL"
        )
    return _chap(site, hosts, unit, iqn)


def _chap(site, hosts, unit, iqn):
    """A target that asks CHAP of this initiator takes the user (and password) the Engine keeps for the connection;
    the API gives the user only, so a matching user leaves the password unknown."""
    wanted = target_chap_user(site, hosts, unit.address, unit.target, iqn)
    if wanted is None:
        return None
    if wanted != unit.username:
        return (
            f"target {unit.target} asks CHAP user {wanted} of {iqn}, and the Engine logs in to it as "
            f"{unit.username or '(no CHAP user)'} (the domain's iSCSI connection; STORAGE_DOMAIN_UNREACHABLE): set "
            f"the connection's CHAP credentials in the original Engine, or the target's"
        )
    return Doubt(
        f"target {unit.target} asks CHAP of {iqn} and the Engine's connection has the user {wanted}; its password is "
        f"not given by the API, so whether the login succeeds is not known"
    )


def _fc(hosts, host, unit):
    size = hosts.run(host, "blockdev", "--getss", f"/dev/mapper/{unit.id}")
    if size is not None and size.exit_status != 0:
        return Doubt(  # a fresh host may not have its multipath maps yet
            f"it does not see the FC LUN {unit.id} (`blockdev --getss /dev/mapper/{unit.id}`): check zoning and LUN "
            "masking"
        )
    return None


def initiator(hosts, host) -> str | None:
    text = out(hosts.run(host, "cat", INITIATOR_FILE)) or ""
    match = re.search(r"^InitiatorName=(\S+)", text, re.M)
    return match.group(1) if match else None


def _target_groups(site, hosts, portal: str, target: str) -> list:
    """The TPGs of a LIO target on a site host (/etc/target/saveconfig.json), [] when it cannot be read."""
    server = storage_host(site, hosts, portal)
    config = out(hosts.run(server, "cat", LIO_SAVECONFIG)) if server else None
    if not config:
        return []
    return next((t.get("tpgs", []) for t in json.loads(config).get("targets", []) if t.get("wwn") == target), [])


def target_chap_user(site, hosts, portal: str, target: str, iqn: str | None) -> str | None:
    """The CHAP user a LIO target asks of this initiator (its TPG's `authentication` on, the ACL's chap_userid)."""
    for tpg in _target_groups(site, hosts, portal, target):
        if tpg.get("attributes", {}).get("authentication"):
            acl = next((a for a in tpg.get("node_acls", []) if a.get("node_wwn") == iqn), {})
            if acl.get("chap_userid"):
                return acl["chap_userid"]
    return None


def target_acl(site, hosts, portal: str, target: str) -> list | None:
    """The initiators a LIO target on a site host admits, or None when it does not filter (or cannot be read)."""
    tpgs = _target_groups(site, hosts, portal, target)
    filtering = [tpg for tpg in tpgs if not tpg.get("attributes", {}).get("generate_node_acls")]
    if not filtering:
        return None
    return [a.get("node_wwn") for tpg in filtering for a in tpg.get("node_acls", [])]
