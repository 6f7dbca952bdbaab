"""The Engine VM's disk against the appliance's, read from the image the deploy will use: the lab's images are
real formats (a qcow2 header, a gzipped OVA), its `qemu-img info` and `tar` read them as the real tools do,
its deploy sizes the disk from the image (virtual-size // GiB + 1), and a preview that would meet that
refusal fails naming `hostedEngine.storage.diskSizeGB` with nothing changed."""

import json

import pytest
from pulumi import automation as auto

from components.preflight import appliance_disk
from lab import images, ovirt_site
from lab.testing import LabProcess, run, site_variant
from tests.harness import ANSWERS, answer_file, get, put
from tests.test_preflight import assert_read_only, make_stack, snapshot

GIB = 1 << 30
QCOW2 = "/usr/share/ovirt-engine-appliance/ovirt-engine-appliance-centos9-4.5.7-1.el9.qcow2"
OVA = "/usr/share/ovirt-engine-appliance/ovirt-engine-appliance-4.5-20240101000000.1.el8.ova"
DISK = ("hostedEngine", "storage", "diskSizeGB")


def test_the_qcow2_header_carries_the_virtual_size():
    header = images.qcow2_header(60 * GIB + 5)
    assert len(header) == 104 and header[:4] == b"QFI\xfb"
    assert int.from_bytes(header[24:32], "big") == 60 * GIB + 5  # qcow2.txt: size at offset 24
    assert images.qcow2_info(header)["virtual-size"] == 60 * GIB + 5
    assert images.qcow2_info(b"not an image") is None


def test_the_deploy_size_is_qemu_img_virtual_size_floored_plus_one():
    assert appliance_disk.deploy_size_gb(50 * GIB) == 51
    assert appliance_disk.deploy_size_gb(50 * GIB + 1) == 51
    assert appliance_disk.deploy_size_gb(51 * GIB - 1) == 51


def test_ovf_sizes_are_read_as_integers_or_decimals():
    ovf = '<e:Envelope xmlns:e="http://schemas.dmtf.org/ovf/envelope/1/"><Section><Disk e:size="{}"/></Section></e:Envelope>'
    assert appliance_disk.ovf_disk_gb(ovf.format("50")) == 50
    assert appliance_disk.ovf_disk_gb(ovf.format("50.99999999906867")) == pytest.approx(50.99999999906867)
    assert appliance_disk.ovf_disk_gb("<broken") is None


def kiwi_variant(tmp_path_factory, disk_gb):
    def change(data):
        deploy = next(h for h in data["hosts"] if h["name"] == "deploy")
        ovirt_site.ship_appliance(deploy, "4.5.7", kiwi=True, disk_gb=disk_gb)
        ovirt_site.set_os_release(deploy, "centos", "9")  # the 4.5.7 appliance is el9's, picked by collection 3.2.2
        data["ovirt"] = {"pause_seconds": 0.2, "collection_version": "3.2.2"}

    return site_variant(tmp_path_factory.mktemp("site") / "site.yaml", change)


@pytest.fixture(scope="module")
def big_lab(tmp_path_factory, client_key):
    """A 4.5.7 appliance whose qcow2 is a 60 GiB disk: the deploy needs 61 GiB."""
    with LabProcess(
        tmp_path_factory.mktemp("lab"),
        site=kiwi_variant(tmp_path_factory, 60),
        authorized_keys=[client_key[1]],
        client_key=client_key[0],
    ) as lab:
        yield lab


def test_lab_qemu_img_and_tar_read_the_appliance_images(lab, big_lab):
    deploy, big = lab.ssh("deploy"), big_lab.ssh("deploy")
    try:
        status, out, _ = run(big, f"qemu-img info --output=json {QCOW2}")
        info = json.loads(out)
        assert status == 0 and info["format"] == "qcow2" and info["virtual-size"] == 60 * GIB
        assert info["filename"] == QCOW2 and info["cluster-size"] == 65536 and info["dirty-flag"] is False
        status, out, _ = run(deploy, f"qemu-img info --output=json {OVA}")
        assert status == 0 and json.loads(out)["format"] == "raw"  # gzip: qemu probes it as raw
        status, out, _ = run(deploy, f"tar -tzf {OVA}")
        names = out.split()
        assert status == 0 and names[0].startswith("master/vms/") and names[0].endswith(".ovf")
        assert [n.split("/")[0] for n in names] == ["master", "images", "images"] and names[2].endswith(".meta")
        status, out, _ = run(deploy, f"tar -xzOf {OVA} --wildcards 'master/vms/*.ovf'")
        assert status == 0 and appliance_disk.ovf_disk_gb(out) == 50
        assert run(deploy, f"tar -xzOf {OVA} nothing/here") == (
            2,
            "",
            "tar: nothing/here: Not found in archive\ntar: Exiting with failure status due to previous errors\n",
        )
        assert run(deploy, "qemu-img info --output=json /no/such.qcow2")[0] == 1
    finally:
        deploy.close()
        big.close()


def preview_error(tmp_path_factory, lab, client_key, disk_gb):
    stack = make_stack(
        tmp_path_factory, lab, client_key, lambda s: s["hostedEngine"]["storage"].update(diskSizeGB=disk_gb)
    )
    before_count, before_state = len(lab.commands()), snapshot(lab)
    try:
        result = stack.preview()
        text = result.stdout + result.stderr
    except auto.errors.CommandError as failed:
        text = str(failed)
    assert_read_only(lab, before_count, before_state)
    return text


def test_a_disk_smaller_than_the_qcow2_appliance_needs_fails_the_preview(tmp_path_factory, big_lab, client_key):
    text = preview_error(tmp_path_factory, big_lab, client_key, 60)
    assert (
        "`hostedEngine.storage.diskSizeGB` is 60, but the appliance image " + QCOW2 + " is a 60 GiB disk and the "
        "deploy needs at least 61 GiB for it"
    ) in text, text
    assert "set `hostedEngine.storage.diskSizeGB` to 61 or more" in text
    assert "diskSizeGB` is" not in preview_error(tmp_path_factory, big_lab, client_key, 61)


def test_the_ova_appliance_bounds_the_disk_by_its_ovf(tmp_path_factory, lab, client_key):
    text = preview_error(tmp_path_factory, lab, client_key, 49)
    assert (
        "`hostedEngine.storage.diskSizeGB` is 49, but the appliance OVA " + OVA + " holds a 50 GiB disk (its OVF) "
        "and the deploy needs at least 51 GiB for it"
    ) in text, text
    warned = preview_error(tmp_path_factory, lab, client_key, 50)
    assert "preflight found" not in warned and "the deploy needs one GiB more" in warned, warned


def test_an_applianceova_setting_is_the_image_checked(tmp_path_factory, lab, client_key):
    def change(settings):
        settings["hostedEngine"]["applianceOva"] = "/root/custom.ova"

    stack = make_stack(tmp_path_factory, lab, client_key, change)
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview()
    assert "the appliance OVA /root/custom.ova on the deployment host (deploy) holds no readable OVF" in str(
        failed.value
    )
    assert "tar: /root/custom.ova: Cannot open: No such file or directory" in str(failed.value)


def test_the_lab_deploy_sizes_the_disk_from_the_image(big_lab):
    """The witness: with the 60 GiB appliance, the deploy refuses 51 GiB as vm/image.py does."""
    engine, deploy, storage = big_lab.ssh("engine"), big_lab.ssh("deploy"), big_lab.ssh("storage")
    try:
        assert run(storage, "chown 36:36 /exports/hosted_engine")[0] == 0  # procedure 3.1, so the domain is made
        assert run(engine, "engine-backup --mode=backup --file=/root/engine.backup --log=/root/backup.log")[0] == 0
        put(deploy, "/root/engine.backup", get(engine, "/root/engine.backup"))
        put(deploy, "/root/answers.conf", answer_file({**ANSWERS, "OVEHOSTED_STORAGE/imgSizeGB": "str:51"}))
        status, out, _ = run(
            deploy,
            "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf",
            timeout=30,
        )
    finally:
        for client in (engine, deploy, storage):
            client.close()
    assert (
        status == 1 and "Minimum requirements to fit the disk from the appliance OVF not met (required 61 GiB)" in out
    ), out
