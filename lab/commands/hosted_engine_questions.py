"""The questions `hosted-engine --deploy --restore-from-file` asks, in the order it asks them.

From ovirt-hosted-engine-setup's plugins (groups gr-he-common and gr-he-ansiblesetup, the only
ones `src/bin/ovirt-hosted-engine-setup` loads), ordered as otopi's `_toposortBuildSequence`
runs them: by stage, then priority and before/after, then method name. The lab's README lists
each question with its plugin and the setup versions that ask it.

A question is skipped when its answer is already in the environment (an answer file); otherwise
otopi reads standard input, and at end of input raises "End of file" even for a question with a
default (otopi `dialog.py` `_readline`). The lab never reads answers from standard input.
"""

import re
from dataclasses import dataclass, field

SETUP = "Environment setup"
CUSTOMIZATION = "Environment customization"
VALIDATION = "Setup validation"
CLOSEUP = "Closing up"

# titles.py: the sections of the customization stage, printed in this order
STORAGE, NETWORK, VM, ENGINE = (
    "STORAGE CONFIGURATION",
    "HOST NETWORK CONFIGURATION",
    "VM CONFIGURATION",
    "HOSTED ENGINE CONFIGURATION",
)
NFS_VERSIONS = ("auto", "v3", "v4", "v4_0", "v4_1", "v4_2")  # constants.py NfsVersions (2.4.4 and later)
UNICAST_MAC = re.compile(r"^[a-fA-F0-9][02468aAcCeE](:[a-fA-F0-9]{2}){5}$")  # util.py UNICAST_MAC_ADDR
SMTP_SERVER = re.compile(r"^[a-z0-9.-]+$")  # ha_notifications.py _RE_HOSTNAME
SMTP_PORT = re.compile(r"^[0-9]+$")
EMAIL = re.compile(r"[a-zA-Z0-9_.+\-=]+@[a-z0-9.-]+")  # matched at the start only, as re.match does
CONNECTION = re.compile(r"^(.+):/(.+)$")  # storage_domain.py


@dataclass(frozen=True)
class Deploy:
    """What decides which questions a run asks: its answers so far, the setup version, its options."""

    answers: dict
    version: tuple
    force_ip: bool = False  # --4 or --6 given

    def get(self, key):
        return self.answers.get(key)

    def storage(self, *kinds):
        return self.get("OVEHOSTED_STORAGE/domainType") in kinds


def _always(_deploy):
    return True


@dataclass(frozen=True)
class Question:
    key: str
    stage: str
    prompt: str
    section: str | None = None
    when: object = _always
    since: tuple = (2, 4, 0)
    until: tuple = (99,)
    check: object = None  # check(value) -> the error a preset value raises, or None

    def asked(self, deploy):
        return self.since <= deploy.version < self.until and self.when(deploy)


def _regex(pattern, message):
    return lambda value: None if isinstance(value, str) and pattern.match(value) else message


def _emails(value):
    ok = isinstance(value, str) and all(EMAIL.match(v) for v in value.split(","))
    return None if ok else "Invalid input for environment value OVEHOSTED_NOTIF/destEmail"


def _whole(value):
    try:
        int(value)
    except (TypeError, ValueError):
        return f"Invalid memory value: {value}"
    return None


def _file_domain(deploy):
    return deploy.storage("nfs", "nfs3", "nfs4", "glusterfs")


def _iscsi(name, prompt):
    """A question of storage_domain.py's iSCSI dialog, asked for iscsi domains only."""
    return Question(f"OVEHOSTED_STORAGE/{name}", CLOSEUP, prompt, when=lambda d: d.storage("iscsi"))


QUESTIONS = [
    Question(
        "OVEHOSTED_CORE/deployProceed",
        SETUP,
        "Continuing will configure this host for serving as hypervisor and will create a local VM with a "
        "running engine.\nThe provided engine backup file will be restored there,\nit's strongly "
        "recommended to run this tool on an host that wasn't part of the environment going to be restored.\n"
        "If a reference to this host is already contained in the backup file, it will be filtered out at "
        "restore time.\nThe locally running engine will be used to configure a new storage domain and create "
        "a VM there.\nAt the end the disk of the local VM will be moved to the shared storage.\n"
        "Are you sure you want to continue? (Yes, No)[Yes]: ",
    ),
    Question(
        "OVEHOSTED_CORE/forceIpProceed",
        SETUP,
        'If you run "hosted-engine --deploy" without the "--4" or "--6" option in a dual-stack '
        "environment, the default is IPv6.\nYou must ensure that your DNS returns only IPv6 addresses.\n"
        "Do you want to continue anyway? (Yes, No)[No]: ",
        when=lambda d: not d.force_ip,
        since=(2, 6, 5),
    ),
    Question("OVEHOSTED_NETWORK/gateway", CUSTOMIZATION, "Please indicate the gateway IP address []: ", NETWORK),
    Question(
        "OVEHOSTED_NETWORK/bridgeIf",
        CUSTOMIZATION,
        "Please indicate a nic to set ovirtmgmt bridge on (eth0) [eth0]: ",
        NETWORK,
    ),
    Question(
        "OVEHOSTED_NETWORK/network_test",
        CUSTOMIZATION,
        "Please specify which way the network connectivity should be checked (ping, dns, tcp, none) [dns]: ",
        NETWORK,
    ),
    Question(
        "OVEHOSTED_NETWORK/network_test_tcp_address",
        CUSTOMIZATION,
        "Please specify the desired destination IP address of the TCP connection test: ",
        NETWORK,
        when=lambda d: d.get("OVEHOSTED_NETWORK/network_test") == "tcp",
    ),
    Question(
        "OVEHOSTED_NETWORK/network_test_tcp_port",
        CUSTOMIZATION,
        "Please specify the desired destination TCP port of the TCP connection test: ",
        NETWORK,
        when=lambda d: d.get("OVEHOSTED_NETWORK/network_test") == "tcp",
    ),
    Question(
        "OVEHOSTED_ENGINE/datacenterName",
        CUSTOMIZATION,
        "Please enter the name of the data center where you want to deploy this hosted-engine host.\n"
        "Please note: If you are restoring a backup of a hosted-engine, this value should be the data center "
        "of the HostedEngine VM and hosts.\nData center: ",
        VM,
    ),
    Question(
        "OVEHOSTED_ENGINE/clusterName",
        CUSTOMIZATION,
        "Please enter the name of the cluster where you want to deploy this hosted-engine host.\nCluster: ",
        VM,
    ),
    Question(
        "OVEHOSTED_CORE/renewPKIonRestore",
        CUSTOMIZATION,
        "Renew engine CA on restore if needed? Please notice that if you choose Yes, all hosts will have to be "
        "later manually reinstalled from the engine.\nRenew CA if needed? (Yes, No)[No]: ",
        VM,
    ),
    Question(
        "OVEHOSTED_CORE/pauseonRestore",
        CUSTOMIZATION,
        "Pause the execution after adding this host to the engine?\nYou will be able to connect to the "
        "restored engine in order to manually review and remediate its configuration.\n"
        "Pause after adding the host? (Yes, No)[No]: ",
        VM,
    ),
    Question(
        "OVEHOSTED_CORE/enableKeycloak",
        CUSTOMIZATION,
        "Configure Keycloak integration on the engine(Yes, No) [Yes]: ",
        VM,
        since=(2, 6, 4),
    ),
    Question(
        "OVEHOSTED_VM/ovfArchive",
        CUSTOMIZATION,
        "If you want to deploy with a custom engine appliance image, please specify the path to the OVA "
        "archive you would like to use.\nEntering no value will use the image from the ovirt-engine-appliance "
        "rpm, installing it if needed.\nAppliance image path []: ",
        VM,
    ),
    Question(
        "OVEHOSTED_VM/vmVCpus",
        CUSTOMIZATION,
        "Please specify the number of virtual CPUs for the VM. The default is the appliance OVF value [4]: ",
        VM,
    ),
    Question(
        "OVEHOSTED_VM/vmMemSizeMB",
        CUSTOMIZATION,
        "Please specify the memory size of the VM in MB. The default is the appliance OVF value [16384]: ",
        VM,
        check=_whole,
    ),
    Question(
        "OVEHOSTED_VM/cloudinitInstanceHostName",
        CUSTOMIZATION,
        "Please provide the FQDN you would like to use for the engine.\nNote: This will be the FQDN of the "
        "engine VM you are now going to launch,\nit should not point to the base host or to any other "
        "existing machine.\nEngine VM FQDN: ",
        VM,
        until=(2, 4, 8),
    ),
    Question(
        "OVEHOSTED_VM/cloudinitInstanceDomainName",
        CUSTOMIZATION,
        "Please provide the domain name you would like to use for the engine appliance.\nEngine VM domain: ",
        VM,
        until=(2, 5, 0),
    ),
    Question(
        "OVEHOSTED_VM/cloudinitRootPwd",
        CUSTOMIZATION,
        "Enter root password that will be used for the engine appliance: ",
        VM,
    ),
    Question(
        "OVEHOSTED_VM/rootSshPubkey",
        CUSTOMIZATION,
        "You may provide an SSH public key, that will be added by the deployment script to the "
        "authorized_keys file of the root user in the engine appliance.\nThis should allow you passwordless "
        "login to the engine machine after deployment.\nIf you provide no key, authorized_keys will not be "
        "touched.\nSSH public key []: ",
        VM,
    ),
    Question(
        "OVEHOSTED_VM/rootSshAccess",
        CUSTOMIZATION,
        "Do you want to enable ssh access for the root user? (yes, no, without-password) [yes]: ",
        VM,
    ),
    Question(
        "OVEHOSTED_VM/applyOpenScapProfile",
        CUSTOMIZATION,
        "Do you want to apply an OpenSCAP security profile? (Yes, No) [No]: ",
        VM,
    ),
    Question(
        "OVEHOSTED_VM/OpenScapProfileName",
        CUSTOMIZATION,
        "Please provide the security profile you would like to use (stig, pci-dss) [stig]: ",
        VM,
        when=lambda d: bool(d.get("OVEHOSTED_VM/applyOpenScapProfile")),
        since=(2, 6, 1),
    ),
    Question(
        "OVEHOSTED_VM/enableFips",
        CUSTOMIZATION,
        "Do you want to enable FIPS? (Yes, No) [No]: ",
        VM,
        when=lambda d: d.get("OVEHOSTED_VM/OpenScapProfileName") != "stig",
        since=(2, 6, 1),
    ),
    Question(
        "OVEHOSTED_VM/enableFips",
        CUSTOMIZATION,
        "Do you want to enable FIPS? (Yes, No) [No]: ",
        VM,
        when=lambda d: not d.get("OVEHOSTED_VM/applyOpenScapProfile"),
        since=(2, 5, 3),
        until=(2, 6, 1),
    ),
    Question(
        "OVEHOSTED_VM/vmMACAddr",
        CUSTOMIZATION,
        "Please specify a unicast MAC address for the VM, or accept a randomly generated default [00:16:3e:2a:5b:7c]: ",
        VM,
        check=_regex(UNICAST_MAC, "Invalid unicast MAC address specified"),
    ),
    Question(
        "OVEHOSTED_VM/cloudinitVMStaticCIDR",
        CUSTOMIZATION,
        "How should the engine VM network be configured? (DHCP, Static)[DHCP]: ",
        VM,
    ),
    Question(
        "OVEHOSTED_VM/cloudinitVMDNS",
        CUSTOMIZATION,
        "Please provide a comma-separated list (max 3) of IP addresses of domain name servers for the engine "
        "VM\nEngine VM DNS (leave it empty to skip) []: ",
        VM,
        when=lambda d: bool(d.get("OVEHOSTED_VM/cloudinitVMStaticCIDR")),
    ),
    Question(
        "OVEHOSTED_VM/cloudinitVMETCHOSTS",
        CUSTOMIZATION,
        "Add lines for the appliance itself and for this host to /etc/hosts on the engine VM?\nNote: ensuring "
        "that this host could resolve the engine VM hostname is still up to you.\n"
        "Add lines to /etc/hosts? (Yes, No)[Yes]: ",
        VM,
    ),
    Question(
        "OVEHOSTED_NOTIF/smtpServer",
        CUSTOMIZATION,
        "Please provide the name of the SMTP server through which we will send notifications [localhost]: ",
        ENGINE,
        check=_regex(SMTP_SERVER, "Invalid input for environment value OVEHOSTED_NOTIF/smtpServer"),
    ),
    Question(
        "OVEHOSTED_NOTIF/smtpPort",
        CUSTOMIZATION,
        "Please provide the TCP port number of the SMTP server [25]: ",
        ENGINE,
        check=_regex(SMTP_PORT, "Invalid input for environment value OVEHOSTED_NOTIF/smtpPort"),
    ),
    Question(
        "OVEHOSTED_NOTIF/sourceEmail",
        CUSTOMIZATION,
        "Please provide the email address from which notifications will be sent [root@localhost]: ",
        ENGINE,
        check=_regex(EMAIL, "Invalid input for environment value OVEHOSTED_NOTIF/sourceEmail"),
    ),
    Question(
        "OVEHOSTED_NOTIF/destEmail",
        CUSTOMIZATION,
        "Please provide a comma-separated list of email addresses which will get notifications [root@localhost]: ",
        ENGINE,
        check=_emails,
    ),
    Question("OVEHOSTED_ENGINE/adminPassword", CUSTOMIZATION, "Enter engine admin password: ", ENGINE),
    Question(
        "OVEHOSTED_NETWORK/host_name",
        VALIDATION,
        "Please provide the hostname of this host on the management network []: ",
    ),
    Question(
        "OVEHOSTED_STORAGE/domainType",
        CLOSEUP,
        "Please specify the storage you would like to use (glusterfs, iscsi, fc, nfs)[nfs]: ",
        check=lambda v: (
            None if v in ("glusterfs", "iscsi", "fc", "nfs", "nfs3", "nfs4") else "Currently not implemented"
        ),
    ),
    Question(
        "OVEHOSTED_STORAGE/nfsVersion",
        CLOSEUP,
        "Please specify the nfs version you would like to use (auto, v3, v4, v4_0, v4_1, v4_2)[auto]: ",
        when=lambda d: d.storage("nfs"),
    ),
    Question(
        "OVEHOSTED_STORAGE/storageDomainConnection",
        CLOSEUP,
        "Please specify the full shared storage connection path to use (example: host:/path): ",
        when=_file_domain,
        check=lambda v: None if isinstance(v, str) and CONNECTION.match(v.strip()) else f"Invalid connection path: {v}",
    ),
    Question(
        "OVEHOSTED_STORAGE/mntOptions",
        CLOSEUP,
        "If needed, specify additional mount options for the connection to the hosted-engine storagedomain "
        "(example: rsize=32768,wsize=32768) []: ",
        when=_file_domain,
    ),
    _iscsi("iSCSIPortalIPAddress", "Please specify the iSCSI portal IP address: "),
    _iscsi("iSCSIPortalPort", "Please specify the iSCSI portal port [3260]: "),
    _iscsi("iSCSIDiscoverUser", "Please specify the iSCSI discover user: "),
    _iscsi("iSCSIDiscoverPassword", "Please specify the iSCSI discover password: "),
    _iscsi("iSCSIPortalUser", "Please specify the iSCSI portal login user: "),
    _iscsi("iSCSIPortalPassword", "Please specify the iSCSI portal login password: "),
    _iscsi("iSCSITargetName", "Please select a target (1) [1]: "),
    Question(
        "OVEHOSTED_STORAGE/LunID",
        CLOSEUP,
        "Please select the destination LUN (1) [1]: ",
        when=lambda d: d.storage("iscsi", "fc"),
    ),
    Question("OVEHOSTED_STORAGE/imgSizeGB", CLOSEUP, "Please specify the size of the VM disk in GiB: [51]: "),
]


# engine/fqdn.py: asked only when neither the answers nor the backup give the Engine's FQDN
ENGINE_FQDN = Question(
    "OVEHOSTED_NETWORK/fqdn",
    CUSTOMIZATION,
    "Please provide the FQDN for the engine you would "
    "like to use.\nThis needs to match the fqdn that you will use for the engine installation "
    "within the VM.\nEngine FQDN: ",
    ENGINE,
)


@dataclass
class Unanswered(Exception):
    """otopi's IOError('End of file'): the question that was asked, and the stage it stopped."""

    question: Question
    lines: list = field(default_factory=list)


def ask(deploy, stage, printed):
    """Goes through one stage's questions: a preset answer is checked (RuntimeError as the plugin raises it),
    a missing one is asked, which ends the run. `printed(line)` shows what the dialog prints."""
    section = None
    for question in QUESTIONS:
        if question.stage != stage or not question.asked(deploy):
            continue
        if question.section and question.section != section:
            section = question.section
            printed(f"          --== {section} ==--")
        if question.key not in deploy.answers:
            raise Unanswered(question, [f"          {line}" for line in question.prompt.splitlines()])
        error = question.check(deploy.answers[question.key]) if question.check else None
        if error:
            raise RuntimeError(error)


def setup_version(text):
    """'2.7.2' (or '2.5.4-2') as a tuple of numbers, for the `since`/`until` bounds."""
    return tuple(int(part) for part in re.findall(r"\d+", str(text).split("-")[0]))
