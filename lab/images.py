"""The Engine Appliance's disk images as the real ones are laid out, small: a qcow2 file is its header
only (what `qemu-img info` reads), an OVA a gzipped tar of the OVF and the disk.

- qcow2 header (qemu `docs/interop/qcow2.txt`, version 3): magic `QFI\\xfb`, version, backing file
  offset and size, cluster_bits, the virtual size in bytes at offset 24 (big-endian u64), crypt
  method, L1 size and offset, refcount table offset and clusters, snapshots, feature bits,
  refcount_order and header_length (104).
- OVA of the 4.4 to 4.5.5 appliances (ovirt-appliance `engine-appliance/scripts/create_ova.py` with
  imagefactory's `RHEVOVFPackage`, at ovirt-engine-appliance-4.5.5): a tar.gz holding
  `master/vms/<template>/<template>.ovf` and the disk `images/<image>/<volume>` with its `.meta`.
  The OVF's DiskSection `Disk` has `ovf:size`, the virtual size in GiB rounded up
  (`ovfcommon.RHEVOVFDescriptor`). Upstream builds it with Python 3, whose `/` makes that a decimal
  such as 50.99999999906867 rather than 51; which text real OVAs carry is unclear, so the lab writes
  the rounded-up integer and readers take either. Member order inside the tar is unclear too; the lab
  puts the OVF first.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import tarfile
import uuid

GIB = 1 << 30
QCOW2_MAGIC = b"QFI\xfb"
QCOW2_HEADER = struct.Struct(">4sIQIIQIIQQIIQQQQII")  # version 3, 104 bytes
CLUSTER_BITS = 16
OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1/"
_IDS = uuid.UUID("6f0b2a57-7c43-4f0e-9d1a-2c3e0c6a1b55")  # the lab's namespace for the OVA's ids


def qcow2_header(virtual_size: int) -> bytes:
    """A qcow2 (v3) header for a disk of VIRTUAL_SIZE bytes: the file qemu-img reads."""
    l1_size = max(1, math.ceil(virtual_size / ((1 << CLUSTER_BITS) * ((1 << CLUSTER_BITS) // 8))))
    cluster = 1 << CLUSTER_BITS
    return QCOW2_HEADER.pack(
        QCOW2_MAGIC,
        3,
        0,
        0,
        CLUSTER_BITS,
        virtual_size,
        0,
        l1_size,
        3 * cluster,
        cluster,
        1,
        0,
        0,
        0,
        0,
        0,
        4,
        QCOW2_HEADER.size,
    )


def qcow2_info(data: bytes) -> dict | None:
    """{"virtual-size", "cluster-size", "version"} of a qcow2 file's header, or None if it is none."""
    if len(data) < QCOW2_HEADER.size or not data.startswith(QCOW2_MAGIC):
        return None
    fields = QCOW2_HEADER.unpack_from(data)
    return {"version": fields[1], "cluster-size": 1 << fields[4], "virtual-size": fields[5]}


def virtual_size(data: bytes) -> int:
    """The disk size qemu sees in a file: a qcow2 header's, else (probed as raw) the file's length."""
    header = qcow2_info(data)
    return header["virtual-size"] if header else len(data)


def _ovf(template: str, image: str, volume: str, virtual_size: int) -> bytes:
    size = str(math.ceil(virtual_size / GIB))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ovf:Envelope xmlns:ovf="{OVF_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'ovf:version="0.9">'
        f'<References><File ovf:href="{image}/{volume}" ovf:id="{volume}" ovf:size="{virtual_size}"/>'
        f'</References><Section xsi:type="ovf:DiskSection_Type">'
        f'<Disk ovf:diskId="{volume}" ovf:size="{size}" ovf:actual_size="{size}" '
        f'ovf:fileRef="{image}/{volume}" ovf:volume-format="COW" ovf:volume-type="Sparse" '
        f'ovf:disk-interface="VirtIO" ovf:boot="true"/></Section>'
        f'<Content ovf:id="out" xsi:type="ovf:VirtualSystem_Type"><Name>{template}</Name></Content>'
        f"</ovf:Envelope>\n"
    ).encode()


def ova(name: str, virtual_size: int) -> bytes:
    """An appliance OVA named NAME (ids derive from it, so the same name gives the same bytes)."""
    template, image, volume = (str(uuid.uuid5(_IDS, f"{name}/{kind}")) for kind in ("template", "image", "volume"))
    members = [
        (f"master/vms/{template}/{template}.ovf", _ovf(template, image, volume, virtual_size)),
        (f"images/{image}/{volume}", qcow2_header(virtual_size)),
        (f"images/{image}/{volume}.meta", f"FORMAT=COW\nCAPACITY={virtual_size // 512}\nEOF\n".encode()),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def tar_members(data: bytes) -> list[tuple[str, bytes]] | None:
    """(name, content) of each regular file of a tar, gzipped or not; None if DATA is no tar."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    except (tarfile.TarError, OSError, EOFError):
        return None


def ova_disk(data: bytes) -> bytes | None:
    """The disk an OVA holds, as the deploy finds it after extracting: the file under images/ that is
    not a .meta (the role's get_local_vm_disk_path.yml)."""
    for name, content in tar_members(data) or []:
        if name.startswith("images/") and not name.endswith(".meta"):
            return content
    return None
