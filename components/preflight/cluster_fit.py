"""The deployment host fits the restored cluster: its CPU has the flags of the cluster's CPU type, its VDSM reports
the cluster's compatibility level, its FIPS mode is the cluster's, firewalld runs (the role's
pre_checks/validate_firewalld.yml), and the cluster has the vNIC profile the Engine VM's NIC takes. The restored Engine
sets a host that does not fit Non Operational (events 156, 515, 154, 517) and the deploy pauses inside the outage
window."""

from __future__ import annotations

import re

from components.preflight import original_engine_api as engine_api_check
from components.preflight.facts import out
from providers import host_facts

# The vNIC profile the role gives the Engine VM's NIC: its he_mgmt_network, which ovirt-hosted-engine-setup never sets
# (ovirt-ansible-collection hosted_engine_setup defaults/main.yml), whatever the management network is called.
MGMT_PROFILE = "ovirtmgmt"
# The Engine's ServerCPUList for cluster level 4.7, x86_64 (ovirt-engine packaging/dbscripts/upgrade/pre_upgrade/
# 0000_config.sql, 4.5.0 to 4.5.7): each CPU type and the flags a host must report for it. VDSM reports the kernel's
# flags and `model_<M>` for each libvirt CPU model usable on the host.
CPU_TYPE_FLAGS = {
    "4.7": {
        "Intel Nehalem Family": "vmx,nx,model_Nehalem",
        "Secure Intel Nehalem Family": "vmx,spec_ctrl,ssbd,model_Nehalem",
        "Intel Westmere Family": "aes,vmx,nx,model_Westmere",
        "Secure Intel Westmere Family": "aes,vmx,spec_ctrl,ssbd,model_Westmere",
        "Intel SandyBridge Family": "vmx,nx,model_SandyBridge",
        "Secure Intel SandyBridge Family": "vmx,spec_ctrl,ssbd,md_clear,model_SandyBridge",
        "Intel IvyBridge Family": "vmx,nx,model_IvyBridge",
        "Secure Intel IvyBridge Family": "vmx,spec_ctrl,ssbd,md_clear,model_IvyBridge",
        "Intel Haswell Family": "vmx,nx,model_Haswell-noTSX",
        "Secure Intel Haswell Family": "vmx,spec_ctrl,ssbd,md_clear,model_Haswell-noTSX",
        "Intel Broadwell Family": "vmx,nx,model_Broadwell-noTSX",
        "Secure Intel Broadwell Family": "vmx,spec_ctrl,ssbd,md_clear,model_Broadwell-noTSX",
        "Intel Skylake Client Family": "vmx,nx,model_Skylake-Client",
        "Secure Intel Skylake Client Family": "vmx,ssbd,md_clear,model_Skylake-Client-noTSX-IBRS",
        "Intel Skylake Server Family": "vmx,nx,model_Skylake-Server",
        "Secure Intel Skylake Server Family": "vmx,ssbd,md_clear,model_Skylake-Server-noTSX-IBRS",
        "Intel Cascadelake Server Family": "vmx,model_Cascadelake-Server",
        "Secure Intel Cascadelake Server Family": "vmx,model_Cascadelake-Server-noTSX",
        "Intel Icelake Server Family": "vmx,model_Icelake-Server-noTSX",
        "Secure Intel Icelake Server Family": (
            "vmx,arch-capabilities,rdctl-no,ibrs-all,skip-l1dfl-vmentry,mds-no,pschange-mc-no,model_Icelake-Server-noTSX"
        ),
        "AMD Opteron G4": "svm,nx,model_Opteron_G4",
        "AMD Opteron G5": "svm,nx,model_Opteron_G5",
        "AMD EPYC": "svm,nx,model_EPYC",
        "Secure AMD EPYC": "svm,nx,ibpb,ssbd,model_EPYC",
    }
}


def check(site, hosts, facts, findings, password, api):
    deploy = site.migration.deployment_host
    _firewalld(hosts, deploy, findings)
    read = facts.get("api")
    name = site.migration.hosted_engine["clusterName"]
    cluster = next((c for c in read["clusters"] if c.name == name), None) if read else None
    if cluster is None:  # original_engine_api names what it could not read
        findings.notes.append(
            f"cluster {name} was not read, so whether {deploy} fits its CPU type and FIPS mode is not checked"
        )
        return
    _cpu(hosts, deploy, cluster, findings)
    _cluster_level(hosts, deploy, cluster, findings)
    _fips(hosts, deploy, cluster, findings)
    _vm_profile(read, cluster, findings, api)


# The cluster levels VDSM reports (clusterLevels, vdsm lib/vdsm/common/dsaversion.py.in): from each first version on,
# the levels it always has and those it adds when libvirt and qemu-kvm are at least a version (tags v4.40.1 to v4.50.7).
VDSM_CLUSTER_LEVELS = (  # newest first
    ((4, 50, 6, 1), ("4.2", "4.3", "4.4", "4.5", "4.6"), (("4.7", (8, 0), ()), ("4.8", (10, 10), (9, 1)))),
    ((4, 50, 0, 6), ("4.2", "4.3", "4.4", "4.5", "4.6"), (("4.7", (8, 0), ()),)),
    ((4, 50, 0, 3), ("4.2", "4.3", "4.4", "4.5", "4.6"), (("4.7", (7, 10), ()),)),
    ((4, 40, 60, 1), ("4.2", "4.3", "4.4"), (("4.5", (6, 6), ()), ("4.6", (7, 0), ()))),
    ((4, 40, 30), ("4.2", "4.3", "4.4"), (("4.5", (6, 6), ()),)),
    ((4, 40, 1), ("4.2", "4.3", "4.4"), ()),
)
HOST_PACKAGES = ("vdsm", "libvirt", "libvirt-daemon-kvm", "qemu-kvm")  # osinfo.package_versions reads these


def vdsm_cluster_levels(vdsm: tuple, libvirt: tuple, qemu: tuple) -> list | None:
    """clusterLevels of a VDSM VDSM beside LIBVIRT and QEMU (version tuples); None for a VDSM before 4.40.1."""
    rule = next((r for r in VDSM_CLUSTER_LEVELS if vdsm >= r[0]), None)
    if rule is None:
        return None
    _, levels, extra = rule
    return list(levels) + [lvl for lvl, lv, qv in extra if libvirt[:2] >= lv and qemu[:2] >= qv]


def _firewalld(hosts, deploy, findings):
    shown = out(hosts.run(deploy, "systemctl", "show", "firewalld", "-p", "SubState,LoadState"))
    if shown is None:
        return
    state = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    if state.get("SubState") != "running" or state.get("LoadState") == "masked":
        findings.errors.append(
            f"firewalld is not running on the deployment host ({deploy}; SubState={state.get('SubState')}, "
            f"LoadState={state.get('LoadState')}): the deploy requires it (validate_firewalld.yml) and would stop "
            f"after the backup; `systemctl unmask firewalld && systemctl enable --now firewalld` there"
        )


def host_cpu_flags(hosts, deploy) -> list | None:
    """cpuFlags as VDSM will report them: /proc/cpuinfo's flags and `model_<M>` for every usable libvirt model."""
    cpuinfo = out(hosts.run(deploy, "cat", "/proc/cpuinfo"))
    caps = out(hosts.run(deploy, "virsh", "-r", "domcapabilities"))
    if cpuinfo is None or caps is None:
        return None
    found = re.search(r"^flags\s*:(.*)$", cpuinfo, re.M)
    models = re.findall(r"<model usable='yes'[^>]*>([^<]+)</model>", caps)
    return (found.group(1).split() if found else []) + [f"model_{m}" for m in models]


def _cpu(hosts, deploy, cluster, findings):
    version = f"{cluster.version.major}.{cluster.version.minor}" if cluster.version else None
    table = CPU_TYPE_FLAGS.get(version)
    cpu_type = cluster.cpu.type if cluster.cpu else None
    if table is None or cpu_type not in table:
        findings.notes.append(
            f"the flags of CPU type {cpu_type!r} at cluster level {version} are not known here, so not checked"
        )
        return
    flags = host_cpu_flags(hosts, deploy)
    if flags is None:
        findings.notes.append(
            f"the CPU flags and libvirt models of {deploy} could not be read (`cat /proc/cpuinfo`, `virsh -r "
            f"domcapabilities`), so whether it fits CPU type {cpu_type} of cluster {cluster.name} is not checked"
        )
        return
    missing = [f for f in table[cpu_type].split(",") if f not in flags]
    if not missing:
        return
    fits = [n for n, wanted in table.items() if set(wanted.split(",")) <= set(flags)]
    outcome = (
        f"it fits {fits[-1]} at most" if fits else "no CPU type of that level fits it (CPU_TYPE_UNSUPPORTED, event 156)"
    )
    findings.errors.append(
        f"the deployment host ({deploy}) lacks the CPU feature(s) {', '.join(missing)} of cluster {cluster.name}'s "
        f"CPU type {cpu_type} (`cat /proc/cpuinfo`, `virsh -r domcapabilities`): the restored Engine would set it "
        f"Non Operational (event 515) after the original Engine has stopped; {outcome}. Lower the cluster's CPU "
        f"type in the original Engine before the backup, or choose a deployment host with that CPU "
        f"(`roles.deploymentHost`)"
    )


def _cluster_level(hosts, deploy, cluster, findings):
    """HandleVdsVersionCommand: a cluster level the host's VDSM does not report sets it Non Operational (154)."""
    level = f"{cluster.version.major}.{cluster.version.minor}" if cluster.version else None
    query = hosts.run(deploy, "rpm", "-q", "--qf", r"%{NAME}\t%{VERSION}\n", *HOST_PACKAGES)
    if query is None or level is None:
        return
    found = dict(line.split("\t", 1) for line in query.stdout.splitlines() if "\t" in line)
    version = {name: host_facts.version_numbers(text) for name, text in found.items()}
    if "vdsm" not in version:
        findings.notes.append(
            f"vdsm is not installed on the deployment host ({deploy}) yet, so whether it supports cluster level "
            f"{level} of {cluster.name} is known only once the deploy installs it"
        )
        return
    libvirt = version.get("libvirt") or version.get("libvirt-daemon-kvm") or ()
    levels = vdsm_cluster_levels(version["vdsm"], libvirt, version.get("qemu-kvm") or ())
    if levels is None or level in levels:
        return
    libvirt_found = found.get("libvirt") or found.get("libvirt-daemon-kvm", "none")
    findings.errors.append(
        f"the deployment host's VDSM ({deploy}: vdsm {found['vdsm']}, libvirt {libvirt_found}, "
        f"qemu-kvm {found.get('qemu-kvm', 'none')}) supports cluster levels {','.join(levels)}, not {level} of cluster "
        f"{cluster.name}: the restored Engine would set it Non Operational (VDS_CLUSTER_VERSION_NOT_SUPPORTED, event "
        f"154) after the original Engine has stopped; update vdsm, libvirt and qemu-kvm there (`dnf update`), or "
        f"choose a deployment host that supports {level} (`roles.deploymentHost`)"
    )


def _fips(hosts, deploy, cluster, findings):
    mode = cluster.fips_mode.value if cluster.fips_mode else "undefined"
    enabled = out(hosts.run(deploy, "cat", "/proc/sys/crypto/fips_enabled"))
    if enabled is None or mode == "undefined":
        return  # a cluster without a mode takes the first host's (InitVdsOnUpCommand)
    host = "enabled" if enabled.strip() == "1" else "disabled"
    if host != mode:
        findings.errors.append(
            f"FIPS mode is {host} on the deployment host ({deploy}; /proc/sys/crypto/fips_enabled) but {mode} in "
            f"cluster {cluster.name}: the restored Engine would set it Non Operational (FIPS_INCOMPATIBLE_WITH_CLUSTER) "
            f"after the original Engine has stopped; `fips-mode-setup --{'enable' if mode == 'enabled' else 'disable'}` "
            f"on {deploy} and reboot it before the backup"
        )


def _vm_profile(read, cluster, findings, api):
    """01_create_target_hosted_engine_vm.yml adds the Engine VM with a NIC of profile ovirtmgmt, which ovirt_vm looks
    for among the profiles of the cluster's networks; without one the deploy stops after the backup."""
    import ovirtsdk4  # only the API checks need it

    system = read["connection"].system_service()
    findings.read.append(f"original Engine API {api['url']}: GET vnicprofiles, clusters/{cluster.id}/networks")
    try:
        networks = {n.id for n in engine_api_check.cluster_networks(read, cluster)}
        profiles = system.vnic_profiles_service().list()
    except ovirtsdk4.Error as err:
        findings.errors.append(
            f"the original Engine's API did not list the vNIC profiles of cluster {cluster.name}: {err}; they must be "
            f"known before the backup"
        )
        return
    if not any(p.name == MGMT_PROFILE and p.network is not None and p.network.id in networks for p in profiles):
        findings.errors.append(
            f"no network of cluster {cluster.name} has a vNIC profile named {MGMT_PROFILE}, which the deploy gives the "
            f"Engine VM's NIC (the role's he_mgmt_network, 01_create_target_hosted_engine_vm.yml), so it would stop "
            f"at Add VM (`Profile '{MGMT_PROFILE}' was not found in cluster '{cluster.name}'`) after the original "
            f"Engine has stopped: add a vNIC profile {MGMT_PROFILE} to the management network of {cluster.name} "
            f"(Network > vNIC Profiles) before the backup"
        )
