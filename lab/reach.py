"""Which lab host reaches which storage: one answer for the deploy's own storage domain, the restored Engine's
connection of a host to its data centre's domains (InitVdsOnUpCommand), and the attach that runs on the SPM.

A storage domain is given as the Engine's state keeps it (`storage` of a storagedomains entity: type, address,
path, logical_units). NFS access follows exports(5) client matching against the server's export table; iSCSI,
FC and Gluster follow lab/commands/storage.py, which answers the same for iscsiadm, blockdev and gluster.
"""

import fnmatch
import ipaddress
from types import SimpleNamespace

from lab.commands import storage
from lab.commands.nfs import read_etab
from lab.transport.shell import Unsupported


def host_named(lab, name):
    return next((h for h in lab.hosts.values() if name in (h.fqdn, h.spec.address, h.name)), None)


def client_matches(client, host):
    """exports(5) "Machine Name Formats": `*`, a host name or address, a wildcard name, or an IP network.
    Netgroups need NIS, which the lab does not model."""
    if client.startswith("@"):
        raise Unsupported(f"NFS netgroup clients ({client}) are not modelled by the lab")
    if "/" in client:
        network = ipaddress.ip_network(client, strict=False)
        return ipaddress.ip_address(host.spec.address) in network
    return client == host.spec.address or fnmatch.fnmatchcase(host.fqdn.lower(), client.lower())


def nfs_error(lab, host, connection):
    """Mounting SERVER:/PATH from HOST, as mount.nfs answers it: the server, its NFS service, an export of
    that path to this client."""
    server, _, path = connection.strip().partition(":")
    exporter = host_named(lab, server)
    if exporter is None:
        return f"Problem while trying to mount target: cannot resolve {server!r}"
    if not exporter.services.get("nfs-server", {}).get("active"):
        return f"Error while mounting storage: mount.nfs: Connection refused for {connection}"
    clients = [c for p, c, _ in read_etab(exporter.fs) if p.rstrip("/") == path.rstrip("/")]
    exported = exporter.fs.exists(path) and exporter.fs.get(path).is_dir
    if not exported or not any(client_matches(c, host) for c in clients):
        return f"Error while mounting storage: mount.nfs: access denied by server while mounting {connection}"
    return None


def domain_error(lab, host, spec):
    """Why HOST cannot connect to the storage domain SPEC (the Engine state's `storage`), or None."""
    if not spec.get("type"):
        raise Unsupported("a storage domain without its `storage` connection in the Engine model")
    view = SimpleNamespace(host=host, fs=host.fs)  # what lab/commands/storage.py reads of a running command
    kind = spec.get("type", "nfs")
    if kind == "nfs":
        return nfs_error(lab, host, f"{spec['address']}:{spec['path']}")
    if kind == "glusterfs":
        return storage.gluster_domain_error(view, f"{spec['address']}:{spec['path']}")
    if kind not in ("iscsi", "fcp"):
        raise Unsupported(f"storage domains of type {kind} are not modelled by the lab")
    for unit in spec.get("logical_units") or []:
        found = (
            storage.iscsi_domain_error(
                view, unit["address"], unit["target"], unit["id"], (unit.get("username"), unit.get("password"))
            )
            if kind == "iscsi"
            else storage.fc_domain_error(view, unit["id"])
        )
        if found:
            return found
    return None
