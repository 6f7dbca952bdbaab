"""The original Engine is on its latest minor version (procedure 4), and the Engine inside the appliance
will restore its backup: engine-backup's verifyVersion, with the original's version as the backup
records it and the appliance's from the appliance's own rpm manifest.

The rule (ovirt-engine `packaging/bin/engine-backup.sh.in`, `verifyVersion`, read at every tag from
4.3.0 to 4.5.7): the installed engine-backup compares its PACKAGE_VERSION with the archive's `version`
file (the backing-up Engine's PACKAGE_VERSION, `dobackup`). OK if the X.Y pair (`cut -d . -f 1-2`) is in
its VALID_BACKUP_RESTORE_PAIRS, or if the X.Y are equal (and, from 4.4.7, LooseVersion(backup) <=
LooseVersion(installed) on the full versions); from 4.4.3.4 a 4.3 backup whose z is below 10 is refused
whatever else passed. Otherwise `FATAL: Backup was created by version 'B' and can not be restored using
the installed version I`, exit 1. The pairs and rules by installed version are VERIFY_VERSION below.
The deploy runs that restore in the bootstrap VM with the appliance's engine-backup, before engine-setup
updates any package (ovirt-ansible-collection `hosted_engine_setup` tasks/restore_backup.yml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.preflight import appliance as appliance_reader
from components.preflight.facts import out
from providers import host_facts

BACKUP_PACKAGE = "ovirt-engine-tools-backup"  # ships engine-backup, whose PACKAGE_VERSION the backup records


@dataclass(frozen=True)
class VerifyVersion:
    """One ovirt-engine line's verifyVersion."""

    since: tuple  # the first installed version with this code (by its leading numbers)
    pairs: frozenset  # VALID_BACKUP_RESTORE_PAIRS: (backup X.Y, installed X.Y)
    not_newer: bool  # same X.Y also needs looseVersion_le BACKUP INSTALLED
    z_at_least_10_for_4_3: bool  # `[ "${z}" -lt 10 ] && ok=` for a 4.3 backup
    full_versions: bool  # the message prints the full versions (before 4.4.3.4: the X.Y)


VERIFY_VERSION = (  # newest first
    VerifyVersion((4, 5, 0, 2), frozenset({("4.3", "4.5"), ("4.4", "4.5")}), True, True, True),  # to 4.5.7, master
    VerifyVersion((4, 4, 7), frozenset({("4.3", "4.4")}), True, True, True),  # to 4.5.0.1: 4.4 -> 4.5 refused
    VerifyVersion((4, 4, 3, 4), frozenset({("4.3", "4.4")}), False, True, True),
    VerifyVersion((4, 4, 0), frozenset({("4.3", "4.4")}), False, False, False),
    VerifyVersion((), frozenset({("3.6", "4.0")}), False, False, False),  # 4.3.x: a stale pair, 4.3 only
)


@dataclass(frozen=True)
class Refusal:
    fatal: str  # engine-backup's exact line
    why: str  # the rule that refused, in words


def _numbers(version: str) -> tuple:
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(n) for n in match.group(0).split(".")) if match else ()


def _x_y(version: str) -> str:
    """`echo V | cut -d . -f 1-2` (a version without a dot is printed whole)."""
    return ".".join(version.split(".")[:2])


def loose_version_le(a: str, b: str) -> bool:
    """engine-backup's looseVersion_le: `python3 -c '... sys.exit(0 if LooseVersion(a) <= LooseVersion(b)
    else 1)'` (distutils.version up to 4.5.6, the looseversion package, same comparison, after). Components
    are runs of digits (compared as numbers) and of lowercase letters, other characters kept as text; an
    int compared with a str raises TypeError in Python 3, python exits 1, and the comparison fails."""

    def parse(text):
        parts = [p for p in re.split(r"(\d+|[a-z]+|\.)", text) if p and p != "."]
        return [int(p) if p.isdigit() else p for p in parts]

    try:
        return parse(a) <= parse(b)
    except TypeError:
        return False


def verify_version(backup: str, installed: str) -> Refusal | None:
    """Whether engine-backup INSTALLED (its PACKAGE_VERSION) restores a backup whose `version` file says
    BACKUP: None when it does, else what it prints and why."""
    backup, installed = backup.strip(), installed.strip()
    code = next(v for v in VERIFY_VERSION if _numbers(installed) >= v.since)
    b_xy, i_xy = _x_y(backup), _x_y(installed)
    ok, why = (b_xy, i_xy) in code.pairs, None
    if not ok and b_xy == i_xy:
        ok = not code.not_newer or loose_version_le(backup, installed)
        why = None if ok else f"the backup's {backup} is newer than the installed {installed}"
    if not ok and why is None:
        allowed = sorted(f"{b} -> {i}" for b, i in code.pairs if i == i_xy)
        why = (
            f"engine-backup {installed} restores only {i_xy} backups"
            + (f" and {', '.join(allowed)}" if allowed else "")
            + f", not {b_xy}"
        )
    z = backup.split(".")[2] if len(backup.split(".")) > 2 else ""
    if ok and code.z_at_least_10_for_4_3 and b_xy == "4.3" and re.fullmatch(r"\s*[-+]?\d+\s*", z) and int(z) < 10:
        ok, why = False, "a 4.3 backup must come from 4.3.10 or later"
    if ok:
        return None
    shown = (backup, installed) if code.full_versions else (b_xy, i_xy)
    return Refusal(
        f"FATAL: Backup was created by version '{shown[0]}' and can not be restored using the "
        f"installed version {shown[1]}",
        why,
    )


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
    found = appliance_reader.installed(hosts, deploy)
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
