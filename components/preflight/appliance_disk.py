"""The Engine VM's disk (`hostedEngine.storage.diskSizeGB`) holds the appliance's disk, read from the image
the deploy will use, so the deploy does not stop at its closing-up stage for it.

Upstream (ovirt-hosted-engine-setup `src/plugins/gr-he-ansiblesetup/core/misc.py`, 4.4 and 4.5): the role
copies the qcow2 or extracts the OVA (ovirt-ansible-collection `hosted_engine_setup`
tasks/bootstrap_local_vm/02_create_local_vm.yml), reads the disk with `qemu-img info --output=json`
(tasks/get_local_vm_disk_size.yml), and the deploy takes `virtual-size // GiB + 1` as the appliance's
size; `gr-he-common/vm/image.py` `_customize_disk_size` then refuses a smaller disk: `Minimum
requirements to fit the disk from the appliance OVF not met (required N GiB)`. The image is the one
`hostedEngine.applianceOva` names, else the deploy's appliance's (deploy_appliance.py).

An installed qcow2 (4.5.7 on) is read as the deploy reads it; `hostedEngine.applianceOva` must be an OVA, as the
deploy opens a custom image as a gzipped tar (gr-he-common/vm/boot_disk.py `_check_ovf`). An OVA (4.4 to 4.5.5) is gzipped, so its disk cannot
be read in place; its OVF's `ovf:size` (the virtual size in GiB rounded up, lab/images.py for the
source) bounds what the deploy will require: at least that, and one more GiB when the disk is a whole
number of GiB.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from components.preflight.facts import GIB

OVF_SIZE = "{http://schemas.dmtf.org/ovf/envelope/1/}size"
OVF_MEMBERS = "master/vms/*.ovf"


def deploy_size_gb(virtual_size: int) -> int:
    """The appliance disk's size as the deploy computes it from qemu-img's virtual-size."""
    return virtual_size // GIB + 1


def qemu_img_virtual_size(text: str) -> int | None:
    try:
        return int(json.loads(text)["virtual-size"])
    except (ValueError, KeyError, TypeError):
        return None


def ovf_disk_gb(text: str) -> float | None:
    """`ovf:size` of the OVF's DiskSection Disk, in GiB (an integer, or a decimal as Python 3 writes it)."""
    try:
        disk = ET.fromstring(text).find("Section/Disk")
        return float(disk.attrib[OVF_SIZE]) if disk is not None else None
    except (ET.ParseError, KeyError, ValueError):
        return None


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    deploy, he = migration.deployment_host, migration.hosted_engine
    wanted, setting = he["storage"]["diskSizeGB"], "`hostedEngine.storage.diskSizeGB`"
    image = he["applianceOva"] or facts.get("deploy_image")
    if image is None:
        return  # deploy_appliance says why the deploy's image is not known
    if he["applianceOva"] or image.endswith(".ova"):  # a custom image must be an OVA (gr-he-common/vm/boot_disk.py)
        _check_ova(hosts, deploy, image, wanted, setting, findings)
    else:
        _check_qcow2(hosts, deploy, image, wanted, setting, findings)


def _check_qcow2(hosts, deploy, image, wanted, setting, findings):
    info = hosts.run(deploy, "qemu-img", "info", "--output=json", image)
    if info is None:
        return
    virtual = qemu_img_virtual_size(info.stdout) if info.exit_status == 0 else None
    if virtual is None:
        findings.errors.append(
            f"the appliance image {image} on the deployment host ({deploy}) cannot be read "
            f"(`qemu-img info`: {(info.stderr or info.stdout).strip()[-200:]}), and the deploy "
            f"reads it the same way: reinstall the appliance, or fix `hostedEngine.applianceOva`"
        )
        return
    needed = deploy_size_gb(virtual)
    if wanted < needed:
        findings.errors.append(
            f"{setting} is {wanted}, but the appliance image {image} is a {virtual / GIB:g} GiB "
            f"disk and the deploy needs at least {needed} GiB for it (`Minimum requirements to fit "
            f"the disk from the appliance OVF not met`): set {setting} to {needed} or more"
        )


def _check_ova(hosts, deploy, image, wanted, setting, findings):
    ovf = hosts.run(deploy, "tar", "-xzOf", image, "--wildcards", OVF_MEMBERS)
    if ovf is None:
        return
    size = ovf_disk_gb(ovf.stdout) if ovf.exit_status == 0 else None
    if size is None:
        findings.errors.append(
            f"the appliance OVA {image} on the deployment host ({deploy}) holds no readable OVF "
            f"disk size (`tar -xzOf {image} --wildcards '{OVF_MEMBERS}'`: "
            f"{(ovf.stderr or 'no Disk ovf:size').strip()[-200:]}), so the deploy cannot use it (it opens an "
            f"appliance image as a gzipped tar with a master/vms/*.ovf, gr-he-common/vm/boot_disk.py): reinstall "
            f"the appliance, or give `hostedEngine.applianceOva` an OVA (a qcow2 is refused), or leave it empty"
        )
        return
    at_least = math.ceil(size)
    if wanted < at_least:
        findings.errors.append(
            f"{setting} is {wanted}, but the appliance OVA {image} holds a {at_least} GiB disk "
            f"(its OVF) and the deploy needs at least {at_least + 1} GiB for it (`Minimum "
            f"requirements to fit the disk from the appliance OVF not met`): set {setting} to "
            f"{at_least + 1} or more"
        )
    elif wanted == at_least:
        findings.warnings.append(
            f"{setting} is {wanted}, the size of the appliance OVA's disk ({image}, its OVF); "
            f"the deploy needs one GiB more when that disk is a whole number of GiB: set "
            f"{setting} to {at_least + 1}"
        )
