"""The deploy's package steps as the hosted_engine_setup role runs them (ovirt-ansible-collection
roles/hosted_engine_setup): install_packages.yml, then install_appliance.yml, unless `he_offline_deployment`
is passed in OVEHOSTED_CORE/ansibleUserExtraVars (the only way through hosted-engine --deploy: the otopi
plugins do not set it, gr-he-ansiblesetup/core/misc.py). Which appliance package the role uses depends on the
collection's version:

* up to 3.2.1: `ovirt-engine-appliance` (dnf resolves a package that provides it), and its discovery file is
  always /etc/ovirt-hosted-engine/10-appliance.conf;
* 3.2.2 (commit ee80389, "rework hosted_engine_setup for kiwi"): `he_appliance_package`, by default
  `ovirt-engine-appliance-<ansible_distribution|lower><major>`, replaced by `-centos<major>` when `dnf list
  --quiet` of it fails; its discovery file is the first `.conf` that `rpm -ql` lists.

Then the image's sha1 is compared with the file's `sha1sum=`."""

import hashlib
import shlex

from lab.commands.ovirt import _state
from lab.commands.packages import (
    available,
    install_offer,
    installed_files,
    installed_headers,
    providing,
    repo_failure,
)
from lab.ovirt_site import APPLIANCE_CAPABILITY
from lab.transport.shell import Unsupported

FIXED_DISCOVERY = "/etc/ovirt-hosted-engine/10-appliance.conf"
# ansible's distribution facts (module_utils/facts/system/distribution.py) for the os-release IDs of the
# distributions oVirt 4.5 runs on
DISTRIBUTIONS = {"centos": "CentOS", "rhel": "RedHat", "almalinux": "AlmaLinux", "rocky": "Rocky", "ol": "OracleLinux"}
TRUE = ("yes", "on", "1", "true", "y", "t")  # ansible's bool filter


class RoleFailure(Exception):
    """A task of the role failed: the deploy reports it as ansible's fatal line."""


def extra_vars(answers):
    """OVEHOSTED_CORE/ansibleUserExtraVars, which the deploy hands to ansible-playbook as --extra-vars:
    key=value pairs (ansible's JSON and @file forms are not modelled)."""
    text = str(answers.get("OVEHOSTED_CORE/ansibleUserExtraVars") or "").strip()
    if text.startswith(("{", "[", "@")):
        raise Unsupported("ansibleUserExtraVars in JSON or @file form is not modelled by the lab: use key=value")
    pairs = [word.partition("=") for word in shlex.split(text)]
    bad = [key for key, eq, _ in pairs if not eq]
    if bad:
        raise RoleFailure(f"ERROR! Invalid extra vars data supplied. '{bad[0]}' could not be made into a dictionary")
    return {key: value for key, _, value in pairs}


def offline(answers):
    return extra_vars(answers).get("he_offline_deployment", "false").lower() in TRUE


def collection_version(ctx):
    header = next((h for h in installed_headers(ctx) if h["name"] == "ovirt-ansible-collection"), None)
    return tuple(int(n) for n in header["version"].split(".")[:3]) if header else (0,)


def os_release(ctx):
    """(ansible_distribution, ansible_distribution_major_version) from the host's /etc/os-release."""
    fields = {}
    if ctx.fs.exists("/etc/os-release"):
        for line in ctx.fs.read("/etc/os-release").decode().splitlines():
            key, eq, value = line.partition("=")
            if eq:
                fields[key.strip()] = value.strip().strip('"')
    if fields.get("ID") not in DISTRIBUTIONS:
        raise Unsupported(f"the deploy's distribution facts for os-release ID {fields.get('ID')!r} are not modelled")
    return DISTRIBUTIONS[fields["ID"]], fields.get("VERSION_ID", "").split(".")[0]


def install_packages(ctx, answers):
    """install_packages.yml: ovirt-hosted-engine-setup, `state: present`; ansible's dnf module loads every enabled
    repository first (fill_sack), so a repository that does not answer fails it, after 10 retries."""
    if not offline(answers):
        failure = repo_failure(ctx)
        if failure:
            raise RoleFailure(failure)


def install_appliance(ctx, answers):
    """install_appliance.yml: pick, install and verify the appliance package; its name and image are kept as the
    deploy's appliance (packages.deploy_appliance, he_appliance_path)."""
    extra = extra_vars(answers)
    if collection_version(ctx) >= (3, 2, 2):
        distribution, major = os_release(ctx)
        name = extra.get("he_appliance_package") or f"ovirt-engine-appliance-{distribution.lower()}{major}"
        if not _listed(ctx, name):
            name = f"ovirt-engine-appliance-centos{major}"
    else:
        name = APPLIANCE_CAPABILITY
    if not offline(answers):
        _dnf_present(ctx, name)
    header = (providing(ctx, name) or [None])[0]
    path, sha1 = _discovery(ctx, name, header)
    _state(ctx)["he"].update(appliance=header["name"] if header else None, appliance_path=path)
    if not ctx.fs.exists(path) or ctx.fs.get(path).is_dir:
        raise RoleFailure(f"Could not find or access '{path}'")  # ansible.builtin.stat's checksum of nothing
    if hashlib.sha1(ctx.fs.read(path)).hexdigest() != sha1:
        raise RoleFailure(f"{path} is corrupted (sha1sum)")


def _listed(ctx, name):
    """`dnf list --quiet NAME` succeeds: installed or offered, and every repository answered."""
    return repo_failure(ctx) is None and (_named(ctx, name) or name in available(ctx))


def _named(ctx, name):
    return any(h["name"] == name for h in installed_headers(ctx))


def _dnf_present(ctx, name):
    """ansible.builtin.dnf `state: present`: the repositories first, then the package or what provides it."""
    failure = repo_failure(ctx)
    if failure:
        raise RoleFailure(failure)
    if providing(ctx, name):
        return
    offer = available(ctx).get(name)
    if offer is None:
        raise RoleFailure("Failed to install some of the specified packages")  # failures: No package N available.
    install_offer(ctx, name, offer)


def _discovery(ctx, name, header):
    """(path=, sha1sum=) of the discovery file, or the failing task's message."""
    if collection_version(ctx) >= (3, 2, 2):
        confs = [p for p in (header or {}).get("files", []) if p.endswith(".conf")] if _named(ctx, name) else []
        if not confs:  # failed_when: appliance_config_file.stdout == ""
            raise RoleFailure(f"rpm -ql {name} | grep '.conf$' printed nothing (failed_when_result: true)")
        texts = installed_files(ctx, {"files": confs[:1]}, ".conf")
        where = confs[0]
    else:
        where = FIXED_DISCOVERY
        texts = [ctx.fs.read(where).decode()] if ctx.fs.exists(where) and not ctx.fs.get(where).is_dir else []
    if not texts:
        raise RoleFailure(f"non-zero return code: grep: {where}: No such file or directory")
    values = dict(line.partition("=")[::2] for line in texts[0].splitlines() if "=" in line)
    if "path" not in values or "sha1sum" not in values:  # `set -euo pipefail && grep path|sha1sum FILE | cut`
        raise RoleFailure("non-zero return code")
    return values["path"].strip(), values["sha1sum"].strip()
