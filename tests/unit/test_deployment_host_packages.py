"""DeploymentHostPackages: what it installs before the backup, from what the host has (facts in, commands out)."""

import pytest

from providers.deployment_host_packages import appliance_commands, setup_package_commands
from providers.errors import StepError
from providers.host_facts import AppliancePick


def test_the_setup_package_is_installed_only_where_missing_and_never_on_an_ovirt_node():
    assert setup_package_commands("she-host", installed=True, ovirt_node=False) == []
    assert setup_package_commands("she-host", installed=False, ovirt_node=False) == [
        ("dnf", "install", "-y", "ovirt-hosted-engine-setup")
    ]
    with pytest.raises(StepError, match="^she-host: it is an oVirt Node without ovirt-hosted-engine-setup. Reinstall"):
        setup_package_commands("she-host", installed=False, ovirt_node=True)


def test_the_appliance_the_deploy_picks_is_installed_where_missing():
    pick = AppliancePick("ovirt-engine-appliance-centos9", (3, 2, 2))
    assert appliance_commands("she-host", pick, installed=False) == [
        ("dnf", "install", "-y", "ovirt-engine-appliance-centos9")
    ]
    assert appliance_commands("she-host", pick, installed=True) == []
    assert appliance_commands("she-host", None, installed=False) == []  # the host could not be read
    with pytest.raises(StepError, match="^she-host: has no ovirt-ansible-collection, so the appliance"):
        appliance_commands("she-host", AppliancePick(None, ()), installed=False)
