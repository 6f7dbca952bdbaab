"""The packages the deploy installs and the appliance it uses, picked as the hosted_engine_setup role picks them
(host_facts.appliance_candidates): a failure there stops the deploy inside the outage window, after the original
Engine has stopped.

Upstream (ovirt-ansible-collection roles/hosted_engine_setup, 3.2.1 and 3.2.2): install_packages.yml and
install_appliance.yml run dnf unless `he_offline_deployment` is set, and ansible's dnf module loads every enabled
repository first, so one that does not answer fails them even for an installed package. With no custom image
(`hostedEngine.applianceOva`), the role installs the package it names (resolving what provides it), reads the
image's path and sha1sum from the discovery file, and stops with `PATH is corrupted (sha1sum)` when they differ.
The deploy's appliance found here (facts["deploy_appliance"], its image facts["deploy_image"]) is the one the
version and disk checks compare."""

from __future__ import annotations

from components.preflight.facts import out
from providers import host_facts

SETUP_PACKAGE = host_facts.SETUP_PACKAGE


def check(site, hosts, facts, findings, password, api):
    deploy, he = site.migration.deployment_host, site.migration.hosted_engine
    offline = he["offlineDeployment"]
    facts["deploy_appliance"] = facts["deploy_image"] = None
    if not offline and not _repositories_answer(hosts, deploy, findings):
        return
    pick = host_facts.pick_appliance(lambda *argv: hosts.run(deploy, *argv))
    if pick is None or he["applianceOva"]:
        return  # a custom image: install_appliance.yml is skipped
    if pick.name is None:
        findings.warnings.append(
            f"no {host_facts.COLLECTION} is installed on the deployment host ({deploy}) or offered by its "
            f"repositories, so which appliance package the deploy will use cannot be told: install {SETUP_PACKAGE}, "
            f"which requires it"
        )
        return
    if pick.unknown_id is not None:
        findings.warnings.append(
            f"the deployment host's os-release ID {pick.unknown_id!r} ({deploy}) is not one whose ansible distribution "
            f"name is known here; the deploy tries `ovirt-engine-appliance-<distribution><major>` first and falls "
            f"back to {pick.name}, which is checked"
        )
    installed = out(hosts.run(deploy, *host_facts.PROVIDERS, pick.name))
    if not installed:
        _not_installed(hosts, deploy, pick.name, offline, findings)
        return
    package = installed.split()[0]
    image = _verified_image(hosts, deploy, pick.collection, package, findings)
    if image is not None:
        facts["deploy_appliance"], facts["deploy_image"] = package, image


def _repositories_answer(hosts, deploy, findings) -> bool:
    """`dnf list --quiet ovirt-hosted-engine-setup`: the repositories answer, and offer or have the package."""
    listed = hosts.run(deploy, "dnf", "list", "--quiet", SETUP_PACKAGE)
    if listed is None or listed.exit_status == 0:
        return listed is not None
    said = (listed.stderr or listed.stdout).strip().splitlines()[-1:] or [f"exit status {listed.exit_status}"]
    if host_facts.REPOSITORY_FAILURE in said[0]:
        findings.errors.append(
            f"the deployment host's repositories do not answer (`dnf list --quiet {SETUP_PACKAGE}` on {deploy}: "
            f"{said[0]}): the deploy installs its packages and the appliance with dnf, which loads every enabled "
            f"repository first, and would stop there after the original Engine is stopped; fix or disable that "
            f"repository, or install {SETUP_PACKAGE} and the appliance and set `hostedEngine.offlineDeployment: true`"
        )
    else:
        findings.errors.append(
            f"{SETUP_PACKAGE} is neither installed on the deployment host ({deploy}) nor offered by its "
            f"repositories (`dnf list --quiet {SETUP_PACKAGE}`: {said[0]}): enable the oVirt 4.5 repositories "
            f"(`dnf install centos-release-ovirt45`)"
        )
    return False


def _not_installed(hosts, deploy, name, offline, findings):
    if offline:
        findings.errors.append(
            f"no {name} is installed on the deployment host ({deploy}), and `hostedEngine.offlineDeployment` is "
            f"true, so the deploy installs nothing and stops at `Find appliance config file from installed "
            f"package`: install it (`dnf install {name}`), or set `hostedEngine.offlineDeployment: false`"
        )
        return
    listed = hosts.run(deploy, "dnf", "list", "--quiet", name)
    if listed is not None and listed.exit_status != 0:
        findings.errors.append(
            f"the deploy installs the appliance package {name} on the deployment host ({deploy}), which neither has "
            f"it nor finds it in its repositories (`dnf list --quiet {name}`): its `Install ovirt-engine-appliance "
            f"rpm` would fail after the original Engine is stopped; enable the repository that offers {name}, or "
            f"install it, or give `hostedEngine.applianceOva` an OVA"
        )
    elif listed is not None:
        findings.notes.append(
            f"the appliance package {name} is not installed on the deployment host ({deploy}): `up` installs it "
            f"(`dnf install {name}`, 1.5 GB or more) before the original Engine is stopped, and the Engine inside it "
            f"is compared with the original's then, before the stop (EngineBackup), not now"
        )


def _verified_image(hosts, deploy, collection, package, findings) -> str | None:
    """The image path of the discovery file the role reads, after the role's sha1sum comparison."""
    if collection < host_facts.NAMED_APPLIANCES:
        discovery = host_facts.APPLIANCE_DISCOVERY
    else:
        listing = out(hosts.run(deploy, "rpm", "-q", "-l", package)) or ""
        discovery = next((p for p in listing.split() if p.endswith(".conf")), None)
    values = host_facts.discovery_values(out(hosts.run(deploy, "cat", discovery)) or "") if discovery else {}
    if "path" not in values or "sha1sum" not in values:
        findings.errors.append(
            f"the deploy reads the appliance {package} on the deployment host ({deploy}) from "
            f"{discovery or 'the first .conf file its rpm lists'}, which "
            f"{'does not name its image and sha1sum' if discovery and values else 'is not there'} "
            f"({host_facts.COLLECTION} {'.'.join(map(str, collection))}): reinstall {package}, or install the "
            f"appliance this collection expects ({host_facts.APPLIANCE} up to 4.5.5 with a collection up to 3.2.1, "
            f"{host_facts.APPLIANCE}-<distribution><major> with 3.2.2 or later)"
        )
        return None
    summed = hosts.run(deploy, "sha1sum", values["path"])
    if summed is not None and summed.exit_status != 0:
        findings.errors.append(
            f"the appliance image {values['path']}, which {discovery} names, is not on the deployment host ({deploy}) "
            f"(`sha1sum`: {summed.stderr.strip()[-200:]}): reinstall the appliance (`dnf reinstall {package}`)"
        )
        return None
    if summed is not None and summed.stdout.split()[:1] != [values["sha1sum"]]:
        findings.errors.append(
            f"the appliance image {values['path']} on the deployment host ({deploy}) does not match the sha1sum in "
            f"{discovery}, so the deploy would stop with `{values['path']} is corrupted (sha1sum)`: reinstall it "
            f"(`dnf reinstall {package}`)"
        )
        return None
    return values["path"]
