"""The Engine Appliance on the deployment host, read from the appliance itself: which installed package
provides `ovirt-engine-appliance`, which Engine its image holds, from the rpm manifest the package ships, and
whether that Engine's engine-backup restores a backup (verifyVersion). The preflight's engine_version reads it
at preview; DeploymentHostPackages, after installing the appliance, and EngineBackup, before stopping the
original Engine, judge with it what the preview could not. Only reads.

Upstream (ovirt-appliance `engine-appliance/data/ovirt-engine-appliance.spec.in`):
- up to 4.5.5 the package is `ovirt-engine-appliance` (Version X.Y, Release a build date), an OVA;
  4.5.7 names it by distro, `ovirt-engine-appliance-centos9` and so on, with `Provides:
  ovirt-engine-appliance = 4.5.7`, a qcow2. `rpm -q --whatprovides ovirt-engine-appliance` finds both,
  since every package also provides its own name.
- Neither the OVF (4.4 - 4.5.5) nor the discovery file states the Engine version inside; the package's
  %doc `<name>-manifest-rpm` lists the image's packages: `rpm -qa | sort -u` lines
  (NAME-VERSION-RELEASE.ARCH, engine-appliance/Makefile up to 4.5.5) or kiwi's
  NAME|EPOCH|VERSION|RELEASE|ARCH|DISTURL|LICENSE (4.5.7). Its ovirt-engine-tools-backup is the
  engine-backup the deploy's restore runs (tasks/restore_backup.yml runs it in the bootstrap VM, before
  engine-setup updates anything).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CAPABILITY = "ovirt-engine-appliance"
QUERY_FORMAT = r"%{NAME}\t%{VERSION}\t%{RELEASE}\n"
# engine-backup comes with ovirt-engine-tools-backup; ovirt-engine requires it at the same version-release.
ENGINE_PACKAGES = ("ovirt-engine-tools-backup", "ovirt-engine")
BACKUP_PACKAGE = ENGINE_PACKAGES[0]  # engine-backup, whose PACKAGE_VERSION a backup records


@dataclass
class Appliance:
    """One installed appliance package, and what its manifest says of the Engine inside."""

    name: str
    version: str
    release: str
    manifest: str | None = None  # path of the manifest, when rpm lists one
    engine: str | None = None  # engine-backup's PACKAGE_VERSION inside the image
    engine_package: str | None = None
    problem: str | None = None  # why the Engine version is unknown

    @property
    def nvr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"


def manifest_packages(text: str) -> dict[str, tuple[str, str]]:
    """{name: (version, release)} from either manifest format."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if "|" in line:
            fields = line.split("|")
            if len(fields) >= 5:
                found[fields[0]] = (fields[2], fields[3])
            continue
        match = re.fullmatch(r"(.+)-([^-]+)-([^-]+)\.([^.-]+)", line)
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def package_version(version: str, release: str) -> str:
    """engine-backup's PACKAGE_VERSION for an ovirt-engine rpm VERSION and RELEASE: ovirt-engine's Makefile
    has `PACKAGE_VERSION=$(RPM_VERSION)$(if $(MILESTONE),_$(MILESTONE))`, and version.mak gives snapshot
    builds (MILESTONE set) the release `0.$(MILESTONE).<date>`, so the milestone is read back from the
    release (inferred), e.g. 4.5.8 0.master.20250101.el9 -> 4.5.8_master."""
    milestone = re.match(r"0\.([A-Za-z][A-Za-z0-9]*)\.", release or "")
    return f"{version}_{milestone.group(1)}" if milestone else version


def engine_in_manifest(text: str) -> tuple[str, str] | None:
    """(PACKAGE_VERSION, the package it came from) of the Engine a manifest lists, or None."""
    packages = manifest_packages(text)
    for name in ENGINE_PACKAGES:
        if name in packages:
            return package_version(*packages[name]), name
    return None


def installed(run) -> tuple[list[Appliance], str | None] | None:
    """The appliance packages installed on a host, read with RUN(*argv) -> Result (None: the host cannot be
    read), each with the Engine its manifest lists, and rpm's own words when none is installed."""
    query = run("rpm", "-q", "--whatprovides", CAPABILITY, "--qf", QUERY_FORMAT)
    if query is None:
        return None
    if query.exit_status != 0:
        return [], (query.stdout or query.stderr).strip() or f"no package provides {CAPABILITY}"
    found = []
    for line in query.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] not in (a.name for a in found):
            found.append(Appliance(*fields))
    for appliance in found:
        _read_manifest(run, appliance)
    return found, None


def _out(result) -> str | None:
    return result.stdout if result is not None and result.exit_status == 0 else None


def _read_manifest(run, appliance: Appliance) -> None:
    docs = _out(run("rpm", "-q", "--docfiles", appliance.name)) or ""
    appliance.manifest = next((p for p in docs.split() if p.endswith("-manifest-rpm")), None)
    if appliance.manifest is None:
        appliance.problem = f"ships no rpm manifest (`rpm -q --docfiles {appliance.name}` lists none)"
        return
    text = _out(run("cat", appliance.manifest))
    if text is None:
        appliance.problem = (
            f"lists its manifest {appliance.manifest} but it is not on disk (installed "
            f"without documentation: `tsflags=nodocs` or `--excludedocs`)"
        )
        return
    engine = engine_in_manifest(text)
    if engine is None:
        appliance.problem = f"has a manifest ({appliance.manifest}) that lists no {' or '.join(ENGINE_PACKAGES)}"
        return
    appliance.engine, appliance.engine_package = engine


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
