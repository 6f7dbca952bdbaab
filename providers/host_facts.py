"""What hosts print, read in one place: the providers and the preflight run the same reads and parse
them alike, so an exit code or an output format is known once."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

# engine-upgrade-check (ovirt-engine packaging/setup: ovirt-engine-upgrade-check): 0 an upgrade is available,
# 1 none, anything else an error
UPGRADE_AVAILABLE, NO_UPGRADE = 0, 1

# A directory's owner and mode, as `stat` prints them with OWNERSHIP's format.
OWNERSHIP = ("stat", "-c", "%u %g %a")


def ownership(stdout: str) -> tuple[int, int, str] | None:
    """(uid, gid, mode in octal digits) from OWNERSHIP's output, or None when it is not that."""
    words = stdout.split()
    if len(words) != 3 or not (words[0].isdigit() and words[1].isdigit()):
        return None
    return int(words[0]), int(words[1]), words[2]


def parse_exportfs_verbose(text: str) -> list[tuple[str, str, str]]:
    """(path, client, options) from `exportfs -v`; a long path puts its client on the next line."""
    joined, entries = [], []
    for line in text.splitlines():
        if line[:1].isspace() and joined:
            joined[-1] += " " + line.strip()
        elif line.strip():
            joined.append(line.strip())
    for line in joined:
        words = line.split(None, 1)
        if len(words) < 2:
            continue
        client, _, options = words[1].strip().partition("(")
        entries.append((words[0], "*" if client == "<world>" else client, options.rstrip(")")))
    return entries


# What every node's HA state is read with: the same on every node (the agents publish on the shared storage).
VM_STATUS = ("hosted-engine", "--vm-status", "--json")


def vm_status_entries(vm_status_json: str) -> list[dict]:
    """The per-node entries of `hosted-engine --vm-status --json` (it also holds `global_maintenance`)."""
    return [entry for entry in json.loads(vm_status_json).values() if isinstance(entry, dict)]


def vm_status_score(vm_status_json: str, names: set[str]) -> int | None:
    """The HA score `hosted-engine --vm-status --json` gives the host, or None when it is not listed.
    An entry whose `live-data` is false is stale (its agent has stopped publishing): its score is 0."""
    for entry in vm_status_entries(vm_status_json):
        if entry.get("hostname") in names:
            return int(entry.get("score", 0)) if entry.get("live-data") else 0
    return None


def engine_vm_host(vm_status_json: str) -> str | None:
    """The node whose agent reports the Engine VM up with good health in `--vm-status --json`, or None."""
    for entry in vm_status_entries(vm_status_json):
        status = entry.get("engine-status")
        if isinstance(status, dict) and status.get("vm") == "up" and status.get("health") == "good":
            return entry.get("hostname")
    return None


IPV4_ADDRESSES = ("ip", "-o", "-4", "addr", "show")
AVAILABLE = ("df", "-B1", "--output=avail")  # then a path: a header `Avail` and the bytes available there
DISK_USAGE = ("du", "-sb")  # then a path: its apparent size in bytes, a tab, the path
PING = ("ping", "-c", "1", "-W", "2")  # then the address: one echo, two seconds for its reply


def ipv4_interfaces(stdout: str) -> list:
    """The interfaces (address with prefix) `ip -o -4 addr show` lists, loopback left out."""
    found = re.findall(r"^\d+:\s+(\S+)\s+inet\s+(\S+)", stdout, re.M)
    return [ipaddress.ip_interface(cidr) for name, cidr in found if name != "lo"]


def resolved_address(getent_stdout: str) -> str | None:
    """The first address `getent hosts NAME` prints."""
    fields = getent_stdout.split()
    return fields[0] if fields else None


# The deploy's appliance package, as the hosted_engine_setup role picks it (ovirt-ansible-collection
# roles/hosted_engine_setup/tasks/install_appliance.yml): a fixed name and discovery file up to 3.2.1; from
# 3.2.2 `ovirt-engine-appliance-<ansible_distribution|lower><major>`, else `-centos<major>` when `dnf list`
# of the first fails, and the first `.conf` its `rpm -ql` lists.
APPLIANCE = "ovirt-engine-appliance"
APPLIANCE_DISCOVERY = "/etc/ovirt-hosted-engine/10-appliance.conf"  # up to 3.2.1
COLLECTION = "ovirt-ansible-collection"
SETUP_PACKAGE = "ovirt-hosted-engine-setup"  # the deploy; it requires the collection
PROVIDERS = ("rpm", "-q", "--qf", r"%{NAME}\n", "--whatprovides")  # then a name: the installed packages providing it
NAMED_APPLIANCES = (3, 2, 2)  # the first collection that names the appliance by distribution
# ansible's ansible_distribution (module_utils/facts/system/distribution.py) for the os-release IDs oVirt 4.5 runs on
ANSIBLE_DISTRIBUTIONS = {
    "centos": "CentOS",
    "rhel": "RedHat",
    "almalinux": "AlmaLinux",
    "rocky": "Rocky",
    "ol": "OracleLinux",
}
REPOSITORY_FAILURE = "Failed to download metadata for repo"  # libdnf, when an enabled repository does not answer


def version_numbers(text: str) -> tuple:
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(n) for n in match.group(0).split(".")) if match else ()


def os_release(text: str) -> dict:
    """/etc/os-release's KEY=value lines, quotes removed."""
    fields = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and key.strip():
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def appliance_candidates(collection: tuple, release: dict) -> tuple[str | None, str | None]:
    """(the name the role tries first, the name it falls back to) for collection version COLLECTION on a host
    whose os-release is RELEASE; the first is None where ansible's distribution is not known here."""
    if collection < NAMED_APPLIANCES:
        return APPLIANCE, None
    major = release.get("VERSION_ID", "").split(".")[0]
    distribution = ANSIBLE_DISTRIBUTIONS.get(release.get("ID", ""))
    first = f"{APPLIANCE}-{distribution.lower()}{major}" if distribution else None
    return first, f"{APPLIANCE}-centos{major}"


def discovery_values(text: str) -> dict:
    """An appliance discovery file's `key=value` lines (description, version, path, sha1sum)."""
    return {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in text.splitlines()) if v}


@dataclass(frozen=True)
class AppliancePick:
    """The appliance package the deploy will use: `name` None when the collection is neither installed nor
    offered; `unknown_id` the os-release ID whose distribution name is not known here (the fallback is taken)."""

    name: str | None
    collection: tuple
    unknown_id: str | None = None


def pick_appliance(run) -> AppliancePick | None:
    """What install_appliance.yml will pick on a host, read with RUN(*argv) -> Result (None: the host cannot be
    reached, and neither can the pick be told): the collection installed, else the one dnf would install."""
    query = run("rpm", "-q", "--qf", r"%{VERSION}\n", COLLECTION)
    if query is None:
        return None
    if query.exit_status == 0:
        collection = version_numbers(query.stdout)
    else:
        rows = (line.split() for line in _stdout(run("dnf", "list", "--quiet", COLLECTION)).splitlines())
        collection = next((version_numbers(r[1]) for r in rows if len(r) > 1 and r[0].startswith(COLLECTION + ".")), ())
    if not collection:
        return AppliancePick(None, ())
    release = os_release(_stdout(run("cat", "/etc/os-release")) if collection >= NAMED_APPLIANCES else "")
    first, fallback = appliance_candidates(collection, release)
    if fallback is None:
        return AppliancePick(first, collection)
    if first is None:
        return AppliancePick(fallback, collection, release.get("ID", ""))
    listed = run("dnf", "list", "--quiet", first)
    return AppliancePick(first if listed is not None and listed.exit_status == 0 else fallback, collection)


def _stdout(result) -> str:
    return result.stdout if result is not None and result.exit_status == 0 else ""
