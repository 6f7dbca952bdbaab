"""The original Engine is on its latest minor version (procedure 4), and the Engine inside the appliance
will restore its backup: engine-backup's verifyVersion, with the original's version as the backup
records it and the appliance's from the appliance's own rpm manifest.

The rule (ovirt-engine `packaging/bin/engine-backup.sh.in`, `verifyVersion`, read at every tag from
4.3.0 to 4.5.7): the installed engine-backup compares its PACKAGE_VERSION with the archive's `version`
file (the backing-up Engine's PACKAGE_VERSION, `dobackup`). OK if the X.Y pair (`cut -d . -f 1-2`) is in
its VALID_BACKUP_RESTORE_PAIRS, or if the X.Y are equal (and, from 4.4.7, LooseVersion(backup) <=
LooseVersion(installed) on the full versions); from 4.4.3.4 a 4.3 backup whose z is below 10 is refused
whatever else passed. Otherwise `FATAL: Backup was created by version 'B' and can not be restored using
the installed version I`, exit 1. The pairs and rules by installed version are VERIFY_VERSION in
providers/appliance.py.
The deploy runs that restore in the bootstrap VM with the appliance's engine-backup, before engine-setup
updates any package (ovirt-ansible-collection `hosted_engine_setup` tasks/restore_backup.yml).
"""

from __future__ import annotations

from components.preflight.facts import out
from providers import appliance as appliance_reader
from providers import host_facts
from providers.appliance import verify_version

BACKUP_PACKAGE = appliance_reader.BACKUP_PACKAGE


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    engine, deploy = migration.original_engine, migration.deployment_host
    check = hosts.run(engine, "engine-upgrade-check")
    pending = False
    if check is not None:
        if check.exit_status == host_facts.UPGRADE_AVAILABLE:
            pending = True
            message = (
                f"the original Engine ({engine}) has updates pending (`engine-upgrade-check`): the procedure "
                f"(4) updates it to the latest minor version before the backup"
            )
            if migration.backup.allow_engine_update:
                findings.warnings.append(
                    message + "; `backup.allowEngineUpdate` is true, so `up` will run engine-setup first"
                )
            else:
                findings.errors.append(
                    message + "; update it yourself, or set `backup.allowEngineUpdate: true` to let `up` do it"
                )
        elif check.exit_status != host_facts.NO_UPGRADE:
            findings.errors.append(
                f"`engine-upgrade-check` on the original Engine ({engine}) failed with status "
                f"{check.exit_status}: {(check.stderr or check.stdout).strip()[-300:]}; fix the "
                f"Engine's repositories so it can tell whether it is on the latest minor version"
            )
    original = _original_version(hosts, engine, findings)
    facts["original_version"] = original
    used = facts.get("deploy_appliance")
    if used is None:
        return  # a custom image, or one the deploy installs itself: deploy_appliance says so
    found = appliance_reader.installed(lambda *argv: hosts.run(deploy, *argv))
    if found is None:
        return  # the deployment host cannot be reached: reported once by the connection
    appliances = [a for a in found[0] if a.name == used]
    others = [a.nvr for a in found[0] if a.name != used]
    if others:
        findings.notes.append(
            f"the deploy uses the appliance {used} on the deployment host ({deploy}), as its ovirt-ansible-collection "
            f"picks it; {', '.join(others)} also provide ovirt-engine-appliance and are not used"
        )
    for appliance in appliances:
        if appliance.engine is None:
            findings.warnings.append(
                f"the Engine Appliance on the deployment host ({deploy}), {appliance.nvr}, {appliance.problem}, so "
                f"the version of the Engine that will restore the backup cannot be compared with the original's "
                f"({original or 'unknown'}): install an appliance package that ships its manifest, or make sure "
                f"the image's ovirt-engine-tools-backup restores a {original or 'the original'} backup"
            )
            continue
        if original is None:
            continue
        refusal = verify_version(original, appliance.engine)
        if refusal is not None:
            findings.errors.append(
                f"the appliance on the deployment host ({deploy}), {appliance.nvr}, holds Engine {appliance.engine} "
                f"({appliance.engine_package} in its manifest {appliance.manifest}), whose engine-backup will refuse "
                f"the original Engine's backup (version {original}): {refusal.why}, so the deploy's restore fails "
                f"with `{refusal.fatal}`; install an appliance whose Engine restores {original} (the same X.Y and "
                f"not older, or 4.5 for a 4.3.10+ or 4.4 Engine), e.g. `dnf update {appliance.name}`"
            )
        elif pending and migration.backup.allow_engine_update:
            findings.notes.append(
                f"the appliance's Engine {appliance.engine} restores a {original} backup; the original Engine's "
                f"version was read before the update `up` runs, and the backup records the version after it"
            )


def _original_version(hosts, engine: str, findings) -> str | None:
    """engine-backup's PACKAGE_VERSION on the original Engine, which `dobackup` writes to the archive's
    `version` file: the version of the installed ovirt-engine-tools-backup (with a snapshot build's
    milestone)."""
    query = hosts.run(engine, "rpm", "-q", "--qf", r"%{VERSION}\t%{RELEASE}\n", BACKUP_PACKAGE)
    if query is None:
        return None
    text = out(query)
    fields = (text or "").split("\t")
    if len(fields) != 2:
        findings.errors.append(
            f"the original Engine ({engine}) has no {BACKUP_PACKAGE} (`rpm -q {BACKUP_PACKAGE}`: "
            f"{(query.stdout or query.stderr).strip()[-200:]}): engine-backup, which takes the "
            f"procedure's backup, comes with it; install it (`dnf install {BACKUP_PACKAGE}`)"
        )
        return None
    return appliance_reader.package_version(fields[0].strip(), fields[1].strip())
