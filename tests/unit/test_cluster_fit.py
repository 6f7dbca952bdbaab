"""VDSM's clusterLevels as the preflight derives them from the deployment host's packages (vdsm
lib/vdsm/common/dsaversion.py.in, by tag)."""

import pytest

from components.preflight.cluster_fit import vdsm_cluster_levels

EL8_45 = ["4.2", "4.3", "4.4", "4.5", "4.6"]


@pytest.mark.parametrize(
    ("vdsm", "libvirt", "qemu", "expected"),
    [
        ((4, 50, 3, 4), (8, 0, 0), (6, 2, 0), EL8_45 + ["4.7"]),
        ((4, 50, 3, 4), (7, 6, 0), (6, 2, 0), EL8_45),
        ((4, 50, 0, 3), (7, 10), (6, 0), EL8_45 + ["4.7"]),  # 4.50.0.3 to 4.50.0.5 took libvirt 7.10
        ((4, 50, 6, 1), (10, 10, 0), (9, 1, 0), EL8_45 + ["4.7", "4.8"]),
        ((4, 50, 6, 1), (10, 10, 0), (9, 0, 0), EL8_45 + ["4.7"]),
        ((4, 40, 60, 1), (7, 0), (5, 2), ["4.2", "4.3", "4.4", "4.5", "4.6"]),
        ((4, 40, 30), (6, 6), (5, 1), ["4.2", "4.3", "4.4", "4.5"]),
        ((4, 40, 16), (6, 6), (5, 1), ["4.2", "4.3", "4.4"]),
        ((4, 30, 40), (5, 0), (2, 12), None),
    ],
)
def test_cluster_levels_follow_vdsm_libvirt_and_qemu(vdsm, libvirt, qemu, expected):
    assert vdsm_cluster_levels(vdsm, libvirt, qemu) == expected
