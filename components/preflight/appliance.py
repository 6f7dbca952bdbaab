"""The Engine Appliance on the deployment host, read from the appliance itself: which installed package
provides `ovirt-engine-appliance`, and which Engine its image holds, from the rpm manifest the package
ships. Used by engine_version's check; only reads.

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

from components.preflight.facts import out

CAPABILITY = "ovirt-engine-appliance"
QUERY_FORMAT = r"%{NAME}\t%{VERSION}\t%{RELEASE}\n"
# engine-backup comes with ovirt-engine-tools-backup; ovirt-engine requires it at the same version-release.
ENGINE_PACKAGES = ("ovirt-engine-tools-backup", "ovirt-engine")


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


def installed(hosts, host: str) -> tuple[list[Appliance], str | None] | None:
    """The appliance packages installed on HOST, each with the Engine its manifest lists, and rpm's own
    words when none is installed; None when the host cannot be read."""
    query = hosts.run(host, "rpm", "-q", "--whatprovides", CAPABILITY, "--qf", QUERY_FORMAT)
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
        _read_manifest(hosts, host, appliance)
    return found, None


def _read_manifest(hosts, host: str, appliance: Appliance) -> None:
    docs = out(hosts.run(host, "rpm", "-q", "--docfiles", appliance.name)) or ""
    appliance.manifest = next((p for p in docs.split() if p.endswith("-manifest-rpm")), None)
    if appliance.manifest is None:
        appliance.problem = f"ships no rpm manifest (`rpm -q --docfiles {appliance.name}` lists none)"
        return
    text = out(hosts.run(host, "cat", appliance.manifest))
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
