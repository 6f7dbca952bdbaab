"""The hosted-engine NFS or Gluster storage: visible from the deployment host, owned 36:36 mode 0755,
with room for the domain and the Engine VM's disk (procedure 3, 3.1)."""

from __future__ import annotations

import posixpath

from components.preflight.facts import GIB, HE_STORAGE_MIN_GIB, available_bytes, out, storage_host
from providers import host_facts
from providers.storage_export import KVM_GID, MODE, VDSM_UID


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    storage = migration.hosted_engine["storage"]
    if storage["type"] not in ("nfs", "glusterfs"):
        return
    server, _, path = storage["connection"].partition(":")
    path = posixpath.normpath(path) if path else path
    if not path.startswith("/"):
        findings.errors.append(
            f"`hostedEngine.storage.connection` is {storage['connection']!r}: give it as SERVER:/PATH"
        )
        return
    name = storage_host(site, hosts, server)
    prepared = name is not None and any(
        e.host == name and posixpath.normpath(e.path) == path for e in site.storage_exports
    )
    if storage["type"] == "nfs" and not prepared:
        listing = hosts.run(migration.deployment_host, "showmount", "-e", server)
        exported = (
            listing is not None
            and listing.exit_status == 0
            and path in {line.split()[0] for line in listing.stdout.splitlines()[1:] if line.split()}
        )
        if listing is not None and not exported:
            detail = (
                (listing.stderr or listing.stdout).strip()
                if listing.exit_status
                else f"{path} is not in its export list"
            )
            findings.errors.append(
                f"the deployment host cannot see the NFS export {server}:{path} "
                f"(`hostedEngine.storage.connection`; `showmount -e {server}`: {detail}): export "
                f"it, or add it to `storageExports` so `up` exports it first"
            )
    if name is None:
        findings.warnings.append(
            f"the storage server {server} of `hostedEngine.storage.connection` is not one of "
            f"`hosts`, so its ownership, mode and free space cannot be checked: add it to `hosts`"
        )
        return
    if storage["type"] == "nfs" and not prepared:
        read = out(hosts.run(name, *host_facts.OWNERSHIP, path))
        owner = host_facts.ownership(read) if read is not None else None
        if owner is not None and owner != (VDSM_UID, KVM_GID, MODE):
            findings.errors.append(
                f"{server}:{path} (`hostedEngine.storage.connection`) is {owner[0]}:{owner[1]} "
                f"{owner[2]}, not "
                f"owned by vdsm:kvm (36:36) with mode 0755 (procedure 3.1): `chown 36:36` and "
                f"`chmod 0755` it, or add it to `storageExports` so `up` does"
            )
    free = available_bytes(hosts, name, path)
    if free is not None:
        if free < HE_STORAGE_MIN_GIB * GIB:
            findings.errors.append(
                f"{server}:{path} (`hostedEngine.storage.connection`) has {free / GIB:.1f} GiB "
                f"available; the hosted-engine storage domain needs at least {HE_STORAGE_MIN_GIB} GiB "
                f"(procedure 3): give it more space or choose another export"
            )
        if storage["diskSizeGB"] * GIB > free:
            findings.errors.append(
                f"`hostedEngine.storage.diskSizeGB` is {storage['diskSizeGB']} but {server}:{path} "
                f"has only {free / GIB:.1f} GiB available: lower it or free space"
            )
