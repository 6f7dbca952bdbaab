"""Preflight: every prerequisite of the procedure checked against the real site at `pulumi preview`.

Layout: one module per check, named for what it checks (as the oVirt Ansible collection's
`pre_checks/validate_*.yml` are), each a `check()` of the facts gathered once (`facts.py`); this module
runs them in order and keeps, for each, its result (passed, warned, failed, or skipped) with what it read.

Design. The checks run in the dynamic-provider process, as the `read` of a `Preflight` resource
(read on every preview and up, never created or deleted), so the resources that follow reuse its
SSH connections: one connection per host per run. The SSH key and admin password reach it as
secret inputs. `run()` returns the SSH key *gated* by the findings: every resource that touches a
host takes that key as an input, so when a check fails the program raises a `PreflightError` (a
`pulumi.RunError` listing every problem) before any of them is registered, and preview fails with
no host resource planned. Checks in each resource's own `check()` were rejected: the resources
would be planned (and some created) beside a failing one, and the cross-host checks (DNS seen
from the deployment host, the original Engine's API) belong to no one resource.

Nothing on the site changes: facts come from read-only commands over the same SSH connections the
resources use (`providers.ssh.connect`) and from GETs on the original Engine's API
(`providers.engine_api.connect`). All problems are gathered before anything is reported, so a site
that breaks three things shows all three in one preview; errors name the stack setting and the fix,
warnings (what the procedure only recommends) are `pulumi.log.warn`. The original Engine's API only
answers while its `ovirt-engine` runs: once the backup has stopped it (a re-run of `up`), the API
checks are skipped with a note.

Upstream: ovirt-hosted-engine-setup's validations and the oVirt ansible `hosted_engine_setup`
role (FQDN forward/reverse resolution and "FQDN must not resolve to a host address", memory and
vCPU limits, virtualization flags, bridge interface and default gateway, static IP in the host's
subnet, storage domain free space against the disk size).
"""

from __future__ import annotations

import pulumi
from pulumi.dynamic import ReadResult, Resource, ResourceProvider

from components.preflight import (
    admin_principal,
    appliance_disk,
    backup_contents,
    backup_space,
    block_storage,
    cluster_fit,
    deploy_appliance,
    deployment_host,
    engine_address,
    engine_version,
    fencing,
    gluster,
    memory_and_cpus,
    names_and_dns,
    nodes,
    previous_deploy,
    required_networks,
    restored_storage,
    storage,
    vm_network_address,
)
from components.preflight import original_engine_api as engine_api_check
from components.preflight.facts import Findings, Site
from components.site_config import SiteConfig

# In order: a later check may use what an earlier one read (`facts`).
CHECKS = (
    names_and_dns,
    memory_and_cpus,
    deploy_appliance,
    engine_version,
    appliance_disk,
    storage,
    vm_network_address,
    engine_address,
    deployment_host,
    engine_api_check,
    required_networks,
    restored_storage,
    cluster_fit,
    backup_contents,
    backup_space,
    admin_principal,
    block_storage,
    gluster,
    nodes,
    fencing,
    previous_deploy,
)


class PreflightError(pulumi.RunError):
    """The site does not meet the procedure's prerequisites; the message lists every problem."""

    def __init__(self, errors: list[str]):
        super().__init__(
            f"preflight found {len(errors)} problem(s) on the site; nothing was changed:\n"
            + "\n".join(f"  - {e}" for e in errors)
        )


class PreflightProvider(ResourceProvider):
    """Reads the site's prerequisites in the provider process, so the resources that follow reuse the
    same SSH connections (one per host per run)."""

    def __init__(self, site: SiteConfig, api: dict):
        self.site, self.api = site, api

    def read(self, id_, props):
        if "privateKey" not in props:  # `pulumi refresh` hands back the last findings, not the inputs
            return ReadResult(id_, props)
        findings, results = collect(self.site, props["privateKey"], props.get("adminPassword"), self.api)
        return ReadResult(
            id_, {"errors": findings.errors, "warnings": findings.warnings, "notes": findings.notes, "results": results}
        )


class SitePreflight(Resource, module="ovirt", name="Preflight"):
    """The preflight's findings, read again on every preview and up (never created or deleted)."""

    errors: pulumi.Output[list]
    warnings: pulumi.Output[list]
    notes: pulumi.Output[list]
    results: pulumi.Output[list]

    def __init__(self, site: SiteConfig, api: dict, private_key, admin_password):
        props = {
            "privateKey": private_key,
            "adminPassword": admin_password,
            "errors": None,
            "warnings": None,
            "notes": None,
            "results": None,
        }
        opts = pulumi.ResourceOptions(id="site", additional_secret_outputs=["privateKey", "adminPassword"])
        super().__init__(PreflightProvider(site, api), "preflight", props, opts)


def run(
    site: SiteConfig, private_key: pulumi.Input[str], admin_password: pulumi.Input[str] | None
) -> tuple[pulumi.Output[str], pulumi.Output[list]]:
    """The SSH key, released only once every check has passed (see the module docstring), and the
    result of every check for the migration report: [{check, result, messages, read}], none of them secret."""
    if site.migration is None:
        return pulumi.Output.from_input(private_key), pulumi.Output.from_input([])
    preflight = SitePreflight(site, site.migration.original_engine_api, private_key, admin_password)

    def checked(values):
        key, errors, warnings, notes, results = values
        for note in notes:
            pulumi.log.info(f"preflight: {note}")
        for warning in warnings:
            pulumi.log.warn(f"preflight: {warning}")
        if errors:
            raise PreflightError(errors)
        return key, results

    outcome = pulumi.Output.all(
        private_key, preflight.errors, preflight.warnings, preflight.notes, preflight.results
    ).apply(checked)
    return outcome.apply(lambda o: o[0]), pulumi.Output.unsecret(outcome.apply(lambda o: o[1]))


def collect(site: SiteConfig, key: str, password: str | None, api: dict) -> tuple[Findings, list[dict]]:
    """Every check, each once; a check that cannot run is a problem, never a silent pass."""
    findings = Findings()
    hosts, facts, results = Site(site, key, findings), {}, []
    for module in CHECKS:
        before = {kind: len(getattr(findings, kind)) for kind in ("errors", "warnings", "notes", "read")}
        try:
            module.check(site, hosts, facts, findings, password, api)
        except Exception as err:
            findings.errors.append(f"preflight check {_name(module)} could not run: {err}")
        results.append(_result(module, findings, before))
    return findings, results


def _name(module) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _result(module, findings: Findings, before: dict) -> dict:
    """What one check found and read: failed on an error, warned on a warning, skipped when it left only a
    note (it could not decide, e.g. the original Engine already stopped), else passed."""
    new = {kind: getattr(findings, kind)[before[kind] :] for kind in before}
    result = "failed" if new["errors"] else "warned" if new["warnings"] else "skipped" if new["notes"] else "passed"
    return {
        "check": _name(module),
        "result": result,
        "checks": (module.__doc__ or "").split("\n\n")[0].replace("\n", " "),
        "messages": new["errors"] + new["warnings"] + new["notes"],
        "read": new["read"],
    }
