"""The lab's NFS server reads exports(5) files and renders `exportfs -v` options as nfs-utils does, so the
providers' parsers (tests/unit) meet the same text on the lab as on a real server."""

from lab.commands.nfs import read_exports, render_options
from lab.transport.vfs import VirtualFS


def test_lab_exportfs_reads_exports_and_drop_ins_and_renders_like_nfs_utils():
    fs = VirtualFS()
    fs.mkdir("/etc/exports.d", parents=True)
    fs.write("/etc/exports", b"/a *(rw,sync,no_subtree_check)\n")
    fs.write("/etc/exports.d/x.exports", b"/b 192.0.2.0/24(ro,async,no_root_squash,anonuid=36)\n")
    fs.write("/etc/exports.d/ignored.conf", b"/c *(rw)\n")
    exports, errors = read_exports(fs)
    assert errors == [] and [(p, c) for p, c, *_ in exports] == [("/a", "*"), ("/b", "192.0.2.0/24")]
    assert (
        render_options(*exports[0][2:])
        == "sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash"
    )
    assert (
        render_options(*exports[1][2:])
        == "async,wdelay,hide,no_subtree_check,anonuid=36,sec=sys,ro,secure,no_root_squash,no_all_squash"
    )
