"""Disk image tools: `qemu-img info` and `tar`, over the image formats of lab/images.py.

- `qemu-img info [--output=json] FILE` (qemu 6.2 on EL8, 9.x on EL9): the QAPI `ImageInfo` object
  (qemu `qapi/block-core.json`), printed as JSON with 4-space indents. A qcow2 file gives its header's
  virtual size and cluster size and `format-specific` data; anything else is probed as raw, whose
  virtual size is the file's length (qemu's raw format driver). A missing file: `Could not open`, 1.
- `tar -t|-x [-z] [-O] [-v] -f FILE [--wildcards] [MEMBER...]` (GNU tar 1.30/1.34): list or extract
  to standard output; a member asked for and absent is `Not found in archive`, exit 2; with
  --wildcards a pattern's `*` also matches `/` (GNU tar's default for members).
"""

import fnmatch
import getopt
import json

from lab import images
from lab.commands import command
from lab.transport.shell import Unsupported
from lab.transport.vfs import FsError

BLOCK = 4096


def _image_info(path, data):
    info = {
        "virtual-size": images.virtual_size(data),
        "filename": path,
        "format": "raw",
        "actual-size": -(-len(data) // BLOCK) * BLOCK,
        "dirty-flag": False,
    }
    qcow2 = images.qcow2_info(data)
    if qcow2 is not None:
        info.update(
            {
                "cluster-size": qcow2["cluster-size"],
                "format": "qcow2",
                "format-specific": {
                    "type": "qcow2",
                    "data": {
                        "compat": "1.1" if qcow2["version"] >= 3 else "0.10",
                        "compression-type": "zlib",
                        "lazy-refcounts": False,
                        "refcount-bits": 16,
                        "corrupt": False,
                        "extended-l2": False,
                    },
                },
            }
        )
    return {
        key: info[key]
        for key in (
            "virtual-size",
            "filename",
            "cluster-size",
            "format",
            "actual-size",
            "format-specific",
            "dirty-flag",
        )
        if key in info
    }


@command("qemu-img")
def qemu_img(ctx):
    if not ctx.args or ctx.args[0] != "info":
        raise Unsupported(f"qemu-img: only `info` is implemented (got {' '.join(ctx.args) or 'nothing'})")
    opts, names = _opts(ctx, ctx.args[1:], "f:", ["output="])
    output = dict(opts).get("--output", "human")
    if output != "json" or len(names) != 1:
        raise Unsupported("qemu-img info: implemented as `qemu-img info --output=json FILE`")
    path = ctx.path(names[0])
    try:
        data = ctx.fs.read(path)
    except FsError as exc:
        ctx.error(f"qemu-img: Could not open '{names[0]}': Could not open '{names[0]}': {exc.strerror}")
        return 1
    ctx.print(json.dumps(_image_info(names[0], data), indent=4))
    return 0


def _opts(ctx, args, short, long):
    """GNU-style options of ARGS (qemu-img's come after its subcommand)."""
    try:
        return getopt.gnu_getopt(args, short, long)
    except getopt.GetoptError as exc:
        raise Unsupported(f"{ctx.name}: {exc.msg} (not implemented)") from None


@command("tar")
def tar(ctx):
    opts, patterns = _opts(ctx, ctx.args, "txzOvf:", ["wildcards", "to-stdout", "gzip", "list", "extract", "file="])
    flags = {o for o, _ in opts}
    archive = next((v for o, v in opts if o in ("-f", "--file")), None)
    listing, extract = bool(flags & {"-t", "--list"}), bool(flags & {"-x", "--extract"})
    if listing == extract or archive is None or (extract and not flags & {"-O", "--to-stdout"}):
        raise Unsupported("tar: implemented as `tar -t -f FILE` or `tar -x -O -f FILE [MEMBER...]` (-z, --wildcards)")
    try:
        members = images.tar_members(ctx.fs.read(ctx.path(archive)))
    except FsError as exc:
        ctx.error(f"tar: {archive}: Cannot open: {exc.strerror}")
        ctx.error("tar: Error is not recoverable: exiting now")
        return 2
    if members is None:
        ctx.error("tar: This does not look like a tar archive")
        ctx.error("tar: Exiting with failure status due to previous errors")
        return 2
    wildcards = "--wildcards" in flags
    found = set()
    for name, content in members:
        matched = [p for p in patterns if (fnmatch.fnmatchcase(name, p) if wildcards else name == p.rstrip("/"))]
        if patterns and not matched:
            continue
        found.update(matched)
        if listing:
            ctx.print(name)
        else:
            ctx.out += content
    missing = [p for p in patterns if p not in found]
    for pattern in missing:
        ctx.error(f"tar: {pattern}: Not found in archive")
    if missing:
        ctx.error("tar: Exiting with failure status due to previous errors")
        return 2
    return 0
