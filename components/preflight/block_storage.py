"""iSCSI and FC: one LUN, a dedicated target, 512-byte logical blocks, an empty FC LUN, the deployment
host's IQN in the target's ACL (procedure 3, 3.2, 3.3, 6, 6.18)."""

from __future__ import annotations

import re

from components.preflight import reach
from providers.hosted_engine_deployment import ISCSI_PORT


def check(site, hosts, facts, findings, password, api):
    """Procedure 3, 3.2, 3.3, 6 and 6.18 for iSCSI and FC: one LUN, a dedicated iSCSI target, 512-byte
    logical blocks, an empty FC LUN, and (warning) the deployment host's IQN in the target's ACL."""
    storage = site.migration.hosted_engine["storage"]
    kind = storage["type"]
    if kind not in ("iscsi", "fc"):
        return
    deploy = site.migration.deployment_host
    lun = str(storage["lun"]).strip()
    if re.search(r"[\s,;]", lun):
        findings.errors.append(
            f"`hostedEngine.storage.lun` is {lun!r}: a single target LUN is the only supported "
            f"setup for the self-hosted engine (procedure 3); give the WWID of one LUN"
        )
        return
    device = f"/dev/mapper/{lun}"
    if kind == "iscsi":
        _iscsi_target(site, hosts, facts, findings, storage, lun)
    size = hosts.run(deploy, "blockdev", "--getss", device)
    if size is not None and size.exit_status != 0:
        detail = (size.stderr or size.stdout).strip()
        if kind == "fc":
            findings.errors.append(
                f"the deployment host ({deploy}) does not see the FC LUN {lun} "
                f"(`hostedEngine.storage.lun`; `blockdev --getss {device}`: {detail}): check the "
                f"HBAs, zoning and LUN masking (procedure 6.18), or name a LUN it sees"
            )
        else:
            findings.warnings.append(
                f"the deployment host ({deploy}) does not see the iSCSI LUN {lun} yet "
                f"(`blockdev --getss {device}`: {detail}), so its block size cannot be checked "
                f"before the deploy logs in: make sure it has 512-byte logical blocks"
            )
        return
    if size is not None and size.stdout.strip() != "512":
        findings.errors.append(
            f"LUN {lun} (`hostedEngine.storage.lun`) has {size.stdout.strip()}-byte logical blocks "
            f"(`blockdev --getss {device}` on {deploy}): oVirt does not support 4K block storage "
            f"(procedure 3.2, 3.3); configure the LUN in legacy 512-byte mode on the storage array, "
            f"or name a 512-byte LUN"
        )
    if kind == "fc":
        probe = hosts.run(deploy, "blkid", "-p", device)
        if probe is not None and probe.exit_status == 0:
            found = re.search(r'\bTYPE="([^"]+)"', probe.stdout)
            findings.errors.append(
                f"FC LUN {lun} (`hostedEngine.storage.lun`) holds existing data "
                f"(`blkid -p {device}`: {found.group(1) if found else probe.stdout.strip()}): the LUN "
                f"must not contain any data (procedure 6.18); name an empty LUN, or wipe this one "
                f'(`wipefs -a {device}`) once its data is known to be unneeded ("Reusing LUNs")'
            )
        elif probe is not None and probe.exit_status != 2:
            findings.errors.append(
                f"`blkid -p {device}` on {deploy} failed with status {probe.exit_status}: "
                f"{(probe.stderr or probe.stdout).strip()[-200:]}; it must show the LUN is empty"
            )


def _iscsi_target(site, hosts, facts, findings, storage, lun):
    deploy = site.migration.deployment_host
    portal, target = storage["portal"], storage["target"]
    port = int(storage.get("port", ISCSI_PORT))
    found = hosts.run(
        deploy, "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", f"{portal}:{port}", "-o", "nonpersistent"
    )
    if found is not None:
        offered = [line.split()[1] for line in found.stdout.splitlines() if len(line.split()) == 2]
        if found.exit_status != 0:
            detail = ((found.stderr or found.stdout).strip().splitlines() or [""])[-1]
            findings.errors.append(
                f"the deployment host ({deploy}) cannot discover iSCSI targets at {portal}:{port} "
                f"(`hostedEngine.storage.portal`/`.port`; `iscsiadm -m discovery` exit "
                f"{found.exit_status}: {detail}): fix the portal address or port, or the network"
            )
        elif target not in offered:
            findings.errors.append(
                f"`hostedEngine.storage.target` is {target}, which the portal {portal}:{port} does not "
                f"offer (it offers {', '.join(offered) or 'nothing'}): name the dedicated target"
            )
    for domain in facts.get("api_domains") or []:
        units = reach.domain_units(domain)
        if any(u.target == target for u in units):
            findings.errors.append(
                f"iSCSI target {target} (`hostedEngine.storage.target`) is already used by storage "
                f"domain {domain.name} of the original Engine: the self-hosted engine storage domain "
                f"needs a dedicated iSCSI target (procedure 3); create a new target for it and set "
                f"`hostedEngine.storage.target`"
            )
        elif any(u.id == lun for u in units):
            findings.errors.append(
                f"LUN {lun} (`hostedEngine.storage.lun`) already belongs to storage domain "
                f"{domain.name} of the original Engine: name an unused LUN"
            )
    # Procedure 6: a target that filters by initiator ACL refuses a host not in it (STORAGE_DOMAIN_UNREACHABLE).
    acls = reach.target_acl(site, hosts, portal, target)
    if acls is None:
        return
    iqn = reach.initiator(hosts, deploy)
    if iqn not in acls:
        findings.warnings.append(
            f"iSCSI target {target} (`hostedEngine.storage.target`) filters connections by "
            f"initiator ACL and the deployment host's IQN {iqn or '(none in /etc/iscsi/initiatorname.iscsi)'} "
            f"is not in it: the deploy would fail with STORAGE_DOMAIN_UNREACHABLE (procedure 6); add "
            f"the IQN to the target's ACL, or set the host's IQN in /etc/iscsi/initiatorname.iscsi "
            f"to one the ACL maps"
        )
