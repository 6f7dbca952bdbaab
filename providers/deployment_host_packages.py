"""DeploymentHostPackages: what the deploy would install on the deployment host, installed before the original
Engine stops.

The deploy installs ovirt-hosted-engine-setup and the appliance package it picks itself when they are missing
(the hosted_engine_setup role's install_packages.yml and install_appliance.yml: 1.5 GB and more), after the backup:
inside the outage window, and from repositories that may not answer then. This resource installs both before
EngineBackup, the appliance being the one the role will pick (host_facts.pick_appliance), so the deploy's dnf finds
them present. It then reads the Engine inside the appliance from the package's manifest (`applianceEngine`), which
EngineBackup compares with the original Engine, updated, before it stops it. With `hostedEngine.applianceOva` the
role installs no appliance; with `hostedEngine.offlineDeployment` nothing is installed (the preview requires both
packages already there). Deleting it removes nothing: the packages stay.
"""

from __future__ import annotations

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, ResourceProvider, UpdateResult

from providers import appliance, base, host_facts, remote_job
from providers.errors import StepError
from providers.ssh import Connection
from providers.timing import timed

SETUP_PACKAGE = host_facts.SETUP_PACKAGE
APPLIANCE_INSTALL = remote_job.Job("ovirt-she-appliance-install")  # minutes: a job a killed run can be followed to


def setup_package_commands(host: str, installed: bool, ovirt_node: bool) -> list[tuple]:
    """What installs ovirt-hosted-engine-setup where it is missing; an oVirt Node gets it only with its image."""
    if installed:
        return []
    if ovirt_node:
        raise StepError(host, f"it is an oVirt Node without {SETUP_PACKAGE}", "Reinstall the node image.")
    return [("dnf", "install", "-y", SETUP_PACKAGE)]


def appliance_commands(host: str, pick: host_facts.AppliancePick | None, installed: bool) -> list[tuple]:
    """What installs the appliance the deploy will use, where it is missing."""
    if pick is None or installed:
        return []
    if pick.name is None:
        raise StepError(
            host,
            f"has no {host_facts.COLLECTION}, so the appliance the deploy will use cannot be told",
            f"Install {SETUP_PACKAGE} there (it requires the collection), then run `pulumi up` again.",
        )
    return [("dnf", "install", "-y", pick.name)]


def _run(deploy: Connection):
    return lambda *argv: deploy.run(*argv, check=False)


def _installed(deploy: Connection, name: str) -> str | None:
    """The installed package that provides NAME (each package provides its own name), or None."""
    query = deploy.run(*host_facts.PROVIDERS, name, check=False)
    return query.stdout.split()[0] if query.exit_status == 0 and query.stdout.split() else None


def _ensure_setup_package(deploy: Connection) -> None:
    installed = _installed(deploy, SETUP_PACKAGE) is not None
    ovirt_node = not installed and deploy.run("nodectl", "check", check=False).exit_status == 0
    for command in setup_package_commands(deploy.host.name, installed, ovirt_node):
        deploy.run(*command)


def _ensure_appliance(props: dict, deploy: Connection) -> tuple[str, str]:
    """(the appliance package, the Engine inside it or "") once installed; ("", "") when the deploy installs
    none or is offline (the preview checked it is there)."""
    if props["applianceOva"] or props["offlineDeployment"]:
        return "", ""
    pick = host_facts.pick_appliance(_run(deploy))
    for argv in appliance_commands(deploy.host.name, pick, _installed(deploy, pick.name or "") is not None):
        ended = remote_job.run(
            deploy, APPLIANCE_INSTALL, list(argv), props["pollInterval"], remote_job.progress(deploy.host.name)
        )
        remote_job.clear(deploy, APPLIANCE_INSTALL, ended.state)
        if not ended.succeeded:
            raise StepError(
                deploy.host.name,
                f"could not install the appliance {pick.name} ({ended.how})",
                "Nothing was stopped. Fix its repositories, or install it by hand, then run `pulumi up` again.",
                command=" ".join(argv),
                output=ended.last_lines(),
            )
    package = _installed(deploy, pick.name)
    found = appliance.installed(_run(deploy)) or ([], None)
    inside = next((a.engine for a in found[0] if a.name == package), None)
    return package or "", inside or ""


def _install(props: dict) -> dict:
    deploy = base.ssh_host(props, "deployHost")
    _ensure_setup_package(deploy)
    package, inside = _ensure_appliance(props, deploy)
    return {**props, "appliance": package, "applianceEngine": inside}


class DeploymentHostPackagesProvider(ResourceProvider):
    def diff(self, _id, olds, news):
        update = ["applianceOva", "offlineDeployment"]
        return base.diff(olds, news, replace=[("deployHost", base.name_of)], update=update, delete_before_replace=False)

    @timed
    def create(self, props):
        return CreateResult(f"{props['deployHost']['name']}:packages", _install(props))

    @timed
    def update(self, _id, _olds, news):
        return UpdateResult(_install(news))

    def read(self, id_, props):
        """Gone when the setup package or the appliance was removed, so the next `up` installs it again."""
        deploy = base.ssh_host(props, "deployHost")
        wanted = [SETUP_PACKAGE] + ([props["appliance"]] if props.get("appliance") else [])
        if any(_installed(deploy, name) is None for name in wanted):
            return ReadResult(None, {})
        return ReadResult(id_, props)

    def delete(self, _id, props):
        """Packages stay: the deploy and the new Engine's host need them."""


class DeploymentHostPackages(Resource, module="ovirt", name="DeploymentHostPackages"):
    """ovirt-hosted-engine-setup and the deploy's appliance on the deployment host; `appliance` is the package
    ("" for a custom image or an offline deploy), `applianceEngine` the Engine its manifest lists ("" unknown)."""

    appliance: pulumi.Output[str]
    applianceEngine: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        deploy_host: dict,
        private_key,
        appliance_ova: str,
        offline_deployment: bool,
        poll_interval: float,
        opts=None,
    ):
        inputs = {
            "deployHost": deploy_host,
            "privateKey": private_key,
            "applianceOva": appliance_ova,
            "offlineDeployment": offline_deployment,
            "pollInterval": poll_interval,
        }
        super().__init__(
            DeploymentHostPackagesProvider(),
            name,
            base.properties(inputs, ("appliance", "applianceEngine")),
            base.options(opts, ["privateKey"]),
        )
