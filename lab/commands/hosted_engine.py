"""hosted-engine (ovirt-hosted-engine-setup and ovirt-hosted-engine-ha): --deploy with --restore-from-file,
--vm-status, --set-maintenance; what host-deploy does to a host for hosted-engine DEPLOY and UNDEPLOY;
and what each node's HA agent publishes.
"""

import copy
import fnmatch
import io
import json
import posixpath
import re
import tarfile
import time
import uuid
import zlib

from lab import images, reach
from lab.commands import appliance_install, command, storage
from lab.commands import hosted_engine_questions as questions
from lab.commands.engine_backup import backup_entities, read_backup, verify_backup
from lab.commands.hostfacts import system_uuid
from lab.commands.names import address_of, answering, dns_records
from lab.commands.ovirt import (
    HE_CONF,
    HE_PACKAGE,
    _AnswerError,
    _cfg,
    _lab,
    _load_answers,
    _not_found,
    _now,
    _read_opts,
    _state,
    _write,
    otopi_failed,
)
from lab.commands.packages import appliance_engine_version, he_installed
from lab.engine_api import audit, host_up
from lab.engine_api.fencing import NOT_ANSWERING
from lab.engine_api.state import NO_HA_STATS, entity_id, free_spm_id, spm_of
from lab.ovirt_site import settings
from lab.transport.shell import Unsupported

BASE_SCORE = 3400  # ovirt-hosted-engine-ha agent/constants.py.in: a healthy node's score, no penalties
OTOPI = (
    "/bin/python3 -B -m otopi.__main__  APPEND:BASE/pluginPath=str:/usr/share/ovirt-hosted-engine-setup/scripts/"
    "../plugins APPEND:BASE/pluginGroups=str:gr-he-common:gr-he-ansiblesetup "
)
SETUP_LOG_DIR = "/var/log/ovirt-hosted-engine-setup"
# otopi's stages, as printed, from the customization stage to the end
LATE_STAGES = (
    "Transaction setup",
    "Misc configuration (early)",
    "Package installation",
    "Misc configuration",
    "Transaction commit",
    "Closing up",
)
BOOTSTRAP_TASKS = (
    "Install oVirt Hosted Engine packages",
    "Start libvirt",
    "Install ovirt-engine-appliance rpm",
    "Create local VM",
    "Copy engine backup file to the local VM",
    "Run engine-backup",
    "Restore engine from file",
)
TARGET_TASKS = (
    "Run engine-setup with answerfile",
    "Wait for the engine to come up",
    "Remove host used to redeploy",
    "Add host",
    "Wait for the host to be up",
    "Add storage domain",
    "Create VM disk on the shared storage",
    "Add VM",
    "Copy local VM disk to shared storage",
    "Start ovirt-ha-agent",
    "Wait for the engine to come up on the target VM",
)
LOCAL_VM_IP = "192.168.222.88"  # the bootstrap VM's address on libvirt's default network, as the role prints it


@command("hosted-engine")
def hosted_engine(ctx):
    if not he_installed(ctx.host):
        return _not_found(ctx)
    if not ctx.args:
        ctx.print(
            "Usage: /usr/sbin/hosted-engine\n    --help\n        show this help.\n    --deploy\n"
            "        run ovirt-hosted-engine deployment\n    --vm-status\n"
            "        VM status according to the HA agent"
        )
        return 1
    first = ctx.args[0]
    if first == "--deploy":
        return _he_deploy(ctx, ctx.args[1:])
    if first == "--vm-status":
        return _he_vm_status(ctx, ctx.args[1:])
    if first.startswith("--set-maintenance"):
        return _he_set_maintenance(ctx, ctx.args)
    if first in ("--vm-shutdown", "--vm-start") and len(ctx.args) == 1:
        return _he_vm_power(ctx, first == "--vm-start")
    raise Unsupported(f"hosted-engine: option not implemented: {first}")


def _he_vm_power(ctx, start):
    """--vm-shutdown / --vm-start: the Engine VM stopped on, or started on, this node (through its VDSM).
    The lab keeps the VM's placement in the new Engine's state; its HA agents do not restart a VM that
    was shut down (an administrator does this in global maintenance)."""
    if not _he_ready(ctx):
        return 1
    new = _lab(ctx).engines.new
    with new.site.lock:
        state = new.site.state
        vm = next(
            v
            for v in state["vms"].values()
            if v.get("origin") == "managed_hosted_engine" or v["name"] == "HostedEngine"
        )
        here = _lab(ctx).engines.api_host_for(ctx.host, list(state["hosts"].values()))
        if start and vm["status"] == "down" and here is not None:
            vm.update(status="up", host=here["id"])
        elif not start and vm["status"] != "down" and here is not None and vm["host"] == here["id"]:
            vm.update(status="down", host=None, migrating_to=None)
        else:
            ctx.error("The engine VM is " + ("already running" if start else "not running on this host"))
            return 1
        new.site.save()
    return 0


class _Run:
    """One deploy: what it prints goes out as it happens (otopi flushes each line) and to its setup log."""

    def __init__(self, ctx):
        self.ctx, self.printed = ctx, []
        self.log = f"{SETUP_LOG_DIR}/ovirt-hosted-engine-setup-{_now()}-{ctx.shell.pid or 0:06d}.log"
        ctx.fs.mkdir(SETUP_LOG_DIR, parents=True)

    def print(self, line):
        self.ctx.print(line)
        self.ctx.flush()
        self.ctx.fs.write(self.log, (line + "\n").encode(), 0o600, append=True)

    def stage(self, name):
        self.print(f"[ INFO  ] Stage: {name}")

    def task(self, name, seconds, result="ok"):
        """One task of the role: a deploy-task fault (lab/faults.py) fails it; what it leaves on the host stays."""
        self.print(f"[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : {name}]")
        self.ctx.sleep(seconds)
        faults = getattr(self.ctx.host.lab, "faults", None)
        failed = faults and faults.failed_task(self.ctx.host.name, name)
        if failed:
            raise _Fatal(failed)
        leave_behind(self.ctx, name)
        if result:
            self.print(f"[ INFO  ] {result}: [localhost]")

    def fail(self, stage, message, late=False):
        """otopi's failed stage, then hosted-engine's own last words (gr-he-common/core/misc.py _terminate)."""
        otopi_failed(self.print, stage, message)
        self.print(
            "[ ERROR ] Hosted Engine deployment failed"
            + (": please check the logs for the issue, fix accordingly or re-deploy from scratch." if late else "")
        )
        self.print(f"          Log file is located at {self.log}")
        return 1

    def fatal(self, message):
        """An ansible task that failed: the role stops, and the closing-up stage with it."""
        self.print(f'[ ERROR ] fatal: [localhost]: FAILED! => {{"changed": false, "msg": {json.dumps(message)}}}')
        return self.fail("Closing up", "Failed executing ansible-playbook", late=True)


def _he_deploy(ctx, args):
    values, flags, unknown = _read_opts(args, {"--4", "--6"}, {"--restore-from-file", "--config-append"})
    if unknown:
        raise Unsupported(f"hosted-engine --deploy: options not implemented: {' '.join(unknown)}")
    if not values.get("--restore-from-file"):
        raise Unsupported("hosted-engine --deploy without --restore-from-file is not implemented by the lab")
    backup_name = values["--restore-from-file"][-1]
    if not ctx.fs.exists(ctx.path(backup_name)) or ctx.fs.get(ctx.path(backup_name)).is_dir:
        ctx.error(f"FATAL: File {backup_name} not found!")  # src/bin/ovirt-hosted-engine-setup, before otopi
        return 1
    environment = [f"OVEHOSTED_CORE/restoreFromFile=str:{ctx.path(backup_name)}"]
    environment += [f"APPEND:CORE/configFileAppend=str:{name}" for name in values.get("--config-append", [])]
    environment += [f"OVEHOSTED_NETWORK/forceIPv{flag[-1]}=bool:True" for flag in sorted(flags)]
    ctx.exec_as(OTOPI + " ".join(environment) + " ")  # hosted-engine -> ovirt-hosted-engine-setup -> otopi
    run = _Run(ctx)
    run.stage("Initializing")
    run.stage("Environment setup")
    run.print("          During customization use CTRL-D to abort.")
    try:
        answers = _load_answers(ctx, values.get("--config-append", []))
    except _AnswerError as exc:
        return run.fail("Environment setup", exc)
    deploy = questions.Deploy(answers, questions.setup_version(_cfg(ctx)["setup_version"]), bool(flags))
    try:
        return _deploy_stages(ctx, run, deploy, ctx.path(backup_name))
    except questions.Unanswered as missing:
        for line in missing.lines:
            run.print(line)
        return run.fail(missing.question.stage, "End of file", late=missing.question.stage == questions.CLOSEUP)
    except _Failed as failure:
        return run.fail(failure.stage, failure.message, late=failure.stage == questions.CLOSEUP)
    except _Fatal as failure:
        return run.fatal(str(failure))


class _Failed(Exception):
    """A stage method raised: otopi reports the stage and the message."""

    def __init__(self, stage, message):
        super().__init__(message)
        self.stage, self.message = stage, message


class _Fatal(Exception):
    """An ansible task of the role failed."""


def _deploy_stages(ctx, run, deploy, backup):
    answers = deploy.answers
    if "SSH_CLIENT" in ctx.shell.env and "TERM" not in ctx.shell.env and not answers.get("OVEHOSTED_CORE/skipTTYCheck"):
        run.print(
            "[ ERROR ] It has been detected that this program is executed through an SSH connection "
            "without pseudo-tty allocation."
        )  # gr-he-common/core/shell.py
        run.print("          Please run again ssh adding -t option")
        raise _Failed(questions.SETUP, "Aborted due to missing requirement")
    if _state(ctx)["he"].get("deployed"):
        raise Unsupported("hosted-engine --deploy on a host where hosted-engine is deployed is not modelled by the lab")
    if _state(ctx)["he"].get("left_behind"):
        raise Unsupported(
            "hosted-engine --deploy over what a failed attempt left ("
            + "; ".join(left_behind(ctx))
            + ") is not modelled by the lab: upstream's initial clean (initial_clean.yml) removes some of it and not "
            "the rest, depending on the role's version; run ovirt-hosted-engine-cleanup first"
        )
    _ask(run, deploy, questions.SETUP)
    if not answers["OVEHOSTED_CORE/deployProceed"] or answers.get("OVEHOSTED_CORE/forceIpProceed") == "no":
        raise _Failed(questions.SETUP, "Aborted by user")
    for stage in ("Environment packages setup", "Programs detection", questions.CUSTOMIZATION):
        run.stage(stage)
    try:
        members = read_backup(ctx.fs.read(backup))
    except ValueError as exc:  # upstream reads the backup's files here; how it reports a broken one is unclear
        raise _Failed(questions.CUSTOMIZATION, f"Unable to read the backup file {backup}: {exc}") from None
    fqdn = answers.setdefault("OVEHOSTED_NETWORK/fqdn", backup_engine_fqdn(members))
    if fqdn:
        run.print(f"[ INFO  ] Using Engine VM FQDN {fqdn} from backup file.")
    _ask(run, deploy, questions.CUSTOMIZATION)
    _check_custom_appliance(ctx, run, answers.get("OVEHOSTED_VM/ovfArchive"))
    if not fqdn:
        raise questions.Unanswered(
            questions.ENGINE_FQDN, [f"          {line}" for line in questions.ENGINE_FQDN.prompt.splitlines()]
        )
    run.stage(questions.VALIDATION)
    _ask(run, deploy, questions.VALIDATION)
    _check_host_name(ctx, answers["OVEHOSTED_NETWORK/host_name"])
    for stage in LATE_STAGES:
        run.stage(stage)
    seconds = float(_cfg(ctx)["deploy_seconds"]) / (len(BOOTSTRAP_TASKS) + len(TARGET_TASKS))
    for task in BOOTSTRAP_TASKS:
        run.task(task, seconds)
        if task == BOOTSTRAP_TASKS[0]:
            _role_step(appliance_install.install_packages, ctx, answers)
            _pre_checks(ctx, answers)
        elif task == "Install ovirt-engine-appliance rpm" and not answers.get("OVEHOSTED_VM/ovfArchive"):
            _role_step(appliance_install.install_appliance, ctx, answers)
    entities = _restore(ctx, run, members, seconds)
    _ask(run, deploy, questions.CLOSEUP)
    error = _storage_error(ctx, answers) or _disk_size_error(ctx, answers)
    if error:
        raise _Fatal(error)
    if answers["OVEHOSTED_ENGINE/adminPassword"] != entities["engine"]["admin_password"]:
        raise _Fatal(
            f"Error during SSO authentication access_denied : Cannot authenticate user "
            f"'{entities['engine']['admin_user']}': The username or password is incorrect.."
        )
    for task in TARGET_TASKS:
        run.task(task, seconds, "changed" if task.startswith("Wait") else "ok")
        if task == HOST_UP_TASK and _address_taken(ctx, entities, answers):
            raise _Fatal("Host is not up, please check logs, perhaps also on the engine machine")
        if task == HOST_UP_TASK:
            _host_operational(ctx, run, entities, answers)
        if task == ADD_DOMAIN_TASK:
            _attach_on_spm(ctx, entities, answers)
        if task == ADD_VM_TASK:
            _vm_profile(entities, answers)
        if task == TARGET_UP_TASK:
            _target_vm_health(ctx, answers)
    _deployed(ctx, run, entities, answers)
    return 0


HOST_UP_TASK, TARGET_UP_TASK = "Wait for the host to be up", TARGET_TASKS[-1]
ADD_DOMAIN_TASK, ADD_VM_TASK = "Add storage domain", "Add VM"
VDSM_ID = "/etc/vdsm/vdsm.id"
MGMT_PROFILE = "ovirtmgmt"  # the role's he_mgmt_network (defaults/main.yml), which ovirt-hosted-engine-setup never sets
DATACENTER_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


# What a task leaves on the host until the deploy succeeds or ovirt-hosted-engine-cleanup runs: no failure path of
# the role destroys the bootstrap VM (its rescues and the cleanup stage remove only its directory: clean_localvm_dir.yml,
# final_clean.yml), and Add host has host-deploy configure VDSM on this host for the bootstrap Engine.
LEFT_BEHIND = {
    "Create local VM": ("local-vm", "the bootstrap VM HostedEngineLocal running"),
    "Add host": ("vdsm", "VDSM configured for the bootstrap Engine, with its certificates and the ovirtmgmt bridge"),
}
VDSM_FILES = (
    "/etc/vdsm/vdsm.conf",
    "/etc/pki/vdsm/certs/vdsmcert.pem",
    "/etc/pki/vdsm/keys/vdsmkey.pem",
    "/etc/pki/libvirt/clientcert.pem",
    "/etc/pki/CA/cacert.pem",
)
LOCAL_VM = "HostedEngineLocal"


def leave_behind(ctx, task):
    if task not in LEFT_BEHIND:
        return
    he = _state(ctx)["he"]
    he["left_behind"] = [*he.get("left_behind", []), LEFT_BEHIND[task][0]]
    if task == "Add host":
        for path in VDSM_FILES:
            ctx.fs.mkdir(posixpath.dirname(path), parents=True)
            ctx.fs.write(path, b"lab: written by host-deploy for the bootstrap Engine\n", 0o600)
        for unit in ("vdsmd", "supervdsmd"):
            if unit in ctx.host.services:
                ctx.host.service_event(unit, "start")


def left_behind(ctx):
    """What failed attempts left on this host, in words."""
    described = dict(LEFT_BEHIND.values())
    return [described[key] for key in _state(ctx)["he"].get("left_behind", [])]


def domains(ctx):
    """The libvirt domains running on this host, by name: a failed attempt's bootstrap VM, and the Engine VM
    where the new Engine places it."""
    found = {LOCAL_VM: "running"} if "local-vm" in _state(ctx)["he"].get("left_behind", []) else {}
    lab = getattr(ctx.host, "lab", None)
    if lab is not None and lab.engines is not None and _vm_runs_here(ctx, lab):
        found["HostedEngine"] = "running"
    return found


def _role_step(step, ctx, answers):
    try:
        step(ctx, answers)
    except appliance_install.RoleFailure as failure:
        raise _Fatal(str(failure)) from None


def _pre_checks(ctx, answers):
    """The role's pre_checks/*.yml, run after its package install (partial_execution.yml, "System configuration
    validations") in with_fileglob's sorted order: validate_data_center_name.yml, then validate_firewalld.yml; their
    messages are folded YAML, the quotes of the first are literal."""
    datacenter, cluster = answers["OVEHOSTED_ENGINE/datacenterName"], answers["OVEHOSTED_ENGINE/clusterName"]
    if not DATACENTER_NAME.search(datacenter):
        raise _Fatal(
            "\"Invalid Data Center name format. Data Center name may only contain letters, numbers, '-', or '_'.\" "
            f'" Got {datacenter}"'
        )
    if datacenter != "Default" and cluster == "Default":
        raise _Fatal(
            "\"Cluster name cannot be 'Default'. This is a reserved name for the default DataCenter. Please choose\" "
            '" another name for the cluster"'
        )
    firewalld = ctx.host.services.get("firewalld", {})
    if not firewalld.get("active") or firewalld.get("masked"):
        raise _Fatal(
            "firewalld is required to be enabled and active in order to correctly deploy hosted-engine. "
            "Please check, fix accordingly and re-deploy.\n"
        )


def _target_cluster(entities, answers):
    """The answers' cluster in the answers' data centre, as the restore left it, or None."""
    return next(
        (
            c
            for c in entities["clusters"].values()
            if c["name"] == answers["OVEHOSTED_ENGINE/clusterName"]
            and entities["datacenters"].get(c["datacenter"], {}).get("name")
            == answers["OVEHOSTED_ENGINE/datacenterName"]
        ),
        None,
    )


def _host_operational(ctx, run, entities, answers):
    """The restored Engine sets the fresh host Non Operational when it does not meet the cluster (lab/engine_api/
    host_up.py); the role collects the events of severity warning and up for this host, grouped by code, pauses
    until its lock file goes (he_pause_after_failed_add_host, true by default and not set by otopi), checks
    again and fails (tasks/bootstrap_local_vm/05_add_host.yml). The lab runs no after_add_host hooks, so nothing
    fixes it."""
    cluster = _target_cluster(entities, answers)
    found = host_up.refusal(_lab(ctx), ctx.host, entities, cluster) if cluster else []
    if not found:
        return
    name = answers["OVEHOSTED_NETWORK/host_name"]
    events = sorted(
        (audit.entry(key, 0, None, VdsName=name, **values) for key, values in found), key=lambda e: e["code"]
    )
    errors = " ".join(f"code {e['code']}: {e['description']}," for e in events if e["severity"] != "normal")
    run.print(f"[ INFO  ] The host has been set in non_operational status, deployment errors: {errors}")
    run.print(
        f"[ INFO  ] You can now connect to https://{answers['OVEHOSTED_NETWORK/fqdn']}:6900/ovirt-engine/ and "
        "check the status of this host and eventually remediate it, please continue only when the host is "
        "listed as 'up'"
    )
    _pause(ctx, run)
    run.task("Check if the host is up", 0)
    raise _Fatal(
        f"The host has been set in non_operational status, deployment errors: {errors} fix accordingly and re-deploy."
    )


def _redeployed(ctx, state, answers):
    """The host records restore_host_redeploy.yml deletes (looped by restore_backup.yml): `upper(vds_name)=
    upper(he_host_name)`, then `upper(vds_unique_id)=upper(<this host's unique id>)` (02_create_local_vm.yml:
    /etc/vdsm/vdsm.id, else the system UUID; a record's is its `hardware.uuid` in the lab's model)."""
    name, unique = answers["OVEHOSTED_NETWORK/host_name"].upper(), host_unique_id(ctx).upper()
    return [
        ident
        for ident, h in state["hosts"].items()
        if h["name"].upper() == name or (h["hardware"]["uuid"] or "").upper() == unique
    ]


def host_unique_id(ctx):
    if ctx.fs.exists(VDSM_ID):
        return ctx.fs.read(VDSM_ID).decode().strip()
    return system_uuid(ctx.host.spec)


def _address_taken(ctx, entities, answers):
    """The role's Add host (ovirt_host with address he_host_address, the host name; `async: 1, poll: 0`, so nothing
    is printed): a record the restore kept in the same cluster with that address makes the Engine refuse it
    (HostValidator.hostNameNotUsed: getAllForHostname(host name, cluster), ACTION_TYPE_FAILED_VDS_WITH_SAME_HOST_EXIST),
    and the host never comes: `Wait for the host to be up` runs out (120 x 10 s) and the role fails."""
    removed = set(_redeployed(ctx, entities, answers))
    address = answers["OVEHOSTED_NETWORK/host_name"]
    cluster = _target_cluster(entities, answers)
    return any(
        h["address"] == address and cluster and h["cluster"] == cluster["id"]
        for i, h in entities["hosts"].items()
        if i not in removed
    )


def engine_vm_nic(ctx, answers):
    """The target VM's NIC: its static address (cloud-init), else what DHCP leases it, which the lab takes to be
    the FQDN's address (the reservation for its MAC that the procedure asks for); None when neither is known."""
    cidr = answers.get("OVEHOSTED_VM/cloudinitVMStaticCIDR")
    if not cidr:
        address = address_of(_lab(ctx), answers["OVEHOSTED_NETWORK/fqdn"])
        cidr = address and f"{address}/24"
    return cidr and {"name": "eth0", "cidr": cidr, "mac": answers.get("OVEHOSTED_VM/vmMACAddr") or "00:16:3e:00:00:01"}


def _target_vm_health(ctx, answers):
    """Wait for the engine to come up on the target VM (03_hosted_engine_final_tasks.yml): the HA agent's
    liveliness check fetches http://FQDN/ovirt-engine/services/health (check_liveliness.py), so it reaches the
    machine that answers at the FQDN's address. When that is not the new VM, the health stays bad through the
    task's 180 x 5 s (the lab's scaled task time) and the rescue fails: on the VM's address (its one NIC's, as VDSM's
    guestIPs gives it) not being the FQDN's, else on the engine. The rescue's "Engine VM is not running" is not
    modelled: the lab's VM always starts."""
    lab, fqdn, nic = _lab(ctx), answers["OVEHOSTED_NETWORK/fqdn"], engine_vm_nic(ctx, answers)
    resolved, vm_ip = address_of(lab, fqdn), nic and nic["cidr"].split("/")[0]
    if vm_ip != resolved:
        raise _Fatal(
            f"Engine VM IP address is {vm_ip} while the engine's he_fqdn {fqdn} resolves to {resolved}. "
            "If you are using DHCP, check your DHCP reservation configuration"
        )
    if answering(lab, vm_ip) is not None:  # another machine holds the address the VM took
        raise _Fatal("The engine failed to start inside the engine VM; please check engine.log.")


def _vm_profile(entities, answers):
    """create_target_vm/01_create_target_hosted_engine_vm.yml adds the Engine VM with a NIC of profile he_mgmt_network;
    ovirt_vm's __get_vnic_profile_id wants a vNIC profile of that name on a network of the cluster."""
    cluster = answers["OVEHOSTED_ENGINE/clusterName"]
    ids = {c["id"] for c in entities["clusters"].values() if c["name"] == cluster}
    if not any(MGMT_PROFILE in n["vnic_profiles"] and ids & set(n["clusters"]) for n in entities["networks"].values()):
        raise _Fatal(f"Profile '{MGMT_PROFILE}' was not found in cluster '{cluster}'")


def _attach_on_spm(ctx, entities, answers):
    """The role's ovirt_storage_domain attaches the new domain to the data centre, which the Engine runs on its SPM
    (AttachStorageDomainToPoolCommand): an SPM that cannot reach the storage fails it with VDSM's
    StorageDomainDoesNotExist, as VdsmErrors.properties words it; ovirtsdk4 words the fault."""
    datacenter = next(
        d for d in entities["datacenters"].values() if d["name"] == answers["OVEHOSTED_ENGINE/datacenterName"]
    )
    removed = _redeployed(ctx, entities, answers)  # the deployment host's old record is no SPM candidate
    spm = spm_of(
        dict(entities, hosts={i: h for i, h in entities["hosts"].items() if i not in removed}), datacenter["id"]
    )
    if spm is None:  # the deployment host, the only one Up, is the SPM
        return
    lab, address = _lab(ctx), entities["hosts"][spm]["address"]
    host = reach.host_named(lab, address)
    if host is None:
        raise Unsupported(f"the restored SPM {address} is not a host of the lab site")
    if reach.domain_error(lab, host, _domain_storage(answers)):
        raise _Fatal(
            'Fault reason is "Operation Failed". Fault detail is "[Storage domain cannot be reached. Please ensure '
            'it is accessible from the host(s).]". HTTP response code is 400.'
        )


def _check_custom_appliance(ctx, run, path):
    """gr-he-common/vm/boot_disk.py _check_ovf: a custom appliance is opened as a gzipped tar (tarfile 'r:gz',
    whose error is not caught, so otopi reports it) and must hold a master*.ovf."""
    if not path:
        return
    if not ctx.fs.exists(ctx.path(path)):
        run.print("[ ERROR ] The specified file does not exists")
        raise _Failed(
            questions.CUSTOMIZATION,
            f"The specified OVF archive is not readable. Please ensure that {path} could be read",
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(ctx.fs.read(ctx.path(path))), mode="r:gz") as archive:
            names = archive.getnames()
    except tarfile.TarError as exc:
        raise _Failed(questions.CUSTOMIZATION, str(exc)) from None
    if not any(n.startswith("master") and posixpath.splitext(n)[1] == ".ovf" for n in names):
        run.print("[ ERROR ] The OVF archive does not have a required OVF XML file.")
        raise _Failed(
            questions.CUSTOMIZATION,
            f"The specified OVF archive is not readable. Please ensure that {path} could be read",
        )


def _ask(run, deploy, stage):
    try:
        questions.ask(deploy, stage, run.print)
    except RuntimeError as exc:  # a preset answer the plugin refuses
        raise _Failed(stage, exc) from None


def backup_engine_fqdn(members):
    """ENGINE_FQDN from the backup's etc/ovirt-engine/engine.conf.d/*.conf, the last one set (the setup
    plugins' restore path: 'Using Engine VM FQDN ... from backup file')."""
    found = None
    with tarfile.open(fileobj=io.BytesIO(members.get("files", b"")), mode="r:*") as files:
        for member in sorted(files.getmembers(), key=lambda m: m.name):
            if fnmatch.fnmatch(member.name, "etc/ovirt-engine/engine.conf.d/*conf") and member.isfile():
                for line in files.extractfile(member).read().decode().splitlines():
                    if line.startswith("ENGINE_FQDN="):
                        found = line.split("=", 1)[1].strip().strip('"')
    return found


def _check_host_name(ctx, name):
    """ovirt_setup_lib hostname: the name must resolve to addresses of this host."""
    addresses = {a for n, a in dns_records(_lab(ctx)) if n.lower() == str(name).lower()}
    if not addresses:
        raise _Failed(questions.VALIDATION, f"Host name is not valid: {name} did not resolve into an IP address")
    if not addresses <= {ctx.host.spec.address}:
        raise _Failed(
            questions.VALIDATION,
            f"{name} resolves to {', '.join(sorted(addresses))} and not all of "
            f"them can be mapped to non loopback devices on this host",
        )


def _restore(ctx, run, members, seconds):
    """engine-backup --mode=restore in the bootstrap VM. When it fails the role prints why, then pauses
    until its lock file is removed or 24 hours pass (tasks/restore_backup.yml, pause_execution.yml), and goes
    on without checking again: the lab then finds the restore still undone and fails."""
    error = restore_error(members, appliance_engine_version(ctx))
    entities = backup_entities(members) if error is None else None
    if error is None and entities is None:
        error = "FATAL: Errors while restoring database engine"
    if error is None:
        return entities
    run.print(
        f"[ INFO  ] engine-backup --mode=restore failed:\n\n{error}\n\nYou can now connect from this host to "
        f"the bootstrap engine VM using ssh as root and the temporary IP address - {LOCAL_VM_IP} - and fix "
        "this issue. Please continue only after the backup is restored."
    )
    _pause(ctx, run)
    run.task("Run engine-setup with answerfile", seconds, None)
    raise _Fatal("lab: the backup was not restored during the pause: " + error)


def _pause(ctx, run):
    """pause_execution.yml: a lock file under /tmp, waited for until it is removed or 24 hours pass."""
    lock = f"/tmp/ansible.{uuid.uuid4().hex[:8]}_he_setup_lock"
    ctx.fs.write(lock, b"", 0o600)
    run.print(
        f"[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : Pause execution until {lock} is removed, "
        "delete it once ready to proceed]"
    )
    deadline = time.monotonic() + float(_cfg(ctx)["pause_seconds"])
    while ctx.fs.exists(lock) and time.monotonic() < deadline:
        ctx.sleep(0.2)
    if ctx.fs.exists(lock):
        raise _Fatal(f"Timeout when waiting for file {lock}")
    run.print("[ INFO  ] ok: [localhost]")


def restore_error(members, installed):
    """What engine-backup --mode=restore refuses, before it restores anything: a damaged archive
    (verify), or a backup its verifyVersion does not accept for the installed Engine version."""
    error = verify_backup(members)
    if error:
        return f"FATAL: {error}"
    return verify_version(members.get("version", b"").decode().strip(), installed)


# engine-backup.sh.in verifyVersion as each ovirt-engine line has it, newest first: (the first installed
# version of that code, VALID_BACKUP_RESTORE_PAIRS, whether the same X.Y also needs backup <= installed by
# LooseVersion, whether a 4.3 backup needs z >= 10, whether the message prints full versions (else X.Y)).
VERIFY_VERSION = (
    ((4, 5, 0, 2), {("4.3", "4.5"), ("4.4", "4.5")}, True, True, True),  # 4.5.0.2 - 4.5.7, master
    ((4, 4, 7), {("4.3", "4.4")}, True, True, True),  # 4.4.7 - 4.5.0.1
    ((4, 4, 3, 4), {("4.3", "4.4")}, False, True, True),  # 4.4.3.4 - 4.4.6.x
    ((4, 4, 0), {("4.3", "4.4")}, False, False, False),  # 4.4.0 - 4.4.3.3
    ((), {("3.6", "4.0")}, False, False, False),  # 4.3.x (a stale pair)
)


def verify_version(backup, installed):
    """engine-backup's verifyVersion with INSTALLED as its PACKAGE_VERSION and BACKUP as the archive's
    `version` file: None when it restores, else its exact `FATAL: Backup was created by version ...` line.
    Which code runs is the installed version's line (by its leading numbers, so 4.5.0_alpha1 is 4.4.7's)."""
    prefix = tuple(int(n) for n in re.match(r"[\d.]*", installed).group(0).split(".") if n)
    pairs, loose, old_43, full = next(row[1:] for row in VERIFY_VERSION if prefix >= row[0])
    b_xy, i_xy = _cut(backup, 1, 2), _cut(installed, 1, 2)
    ok = (b_xy, i_xy) in pairs or (b_xy == i_xy and (not loose or _loose_le(backup, installed)))
    if (
        old_43
        and b_xy == "4.3"
        and re.fullmatch(r"\s*[-+]?\d+\s*", _cut(backup, 3, 3))
        and int(_cut(backup, 3, 3)) < 10
    ):
        ok = False  # `[ "${z}" -lt 10 ] && ok=`: a z that is no integer makes `[` fail, and leaves ok alone
    if ok:
        return None
    shown = (backup, installed) if full else (b_xy, i_xy)
    return f"FATAL: Backup was created by version '{shown[0]}' and can not be restored using the installed version {shown[1]}"


def version_restorable(backup, installed):
    return verify_version(backup, installed) is None


def _cut(version, first, last):
    """`cut -d . -f FIRST-LAST`: a line without a dot is printed whole."""
    fields = version.split(".")
    return version if len(fields) == 1 else ".".join(fields[first - 1 : last])


def _loose_le(a, b):
    """looseVersion_le: `python3 -c '... LooseVersion(a) <= LooseVersion(b)'` (distutils up to 4.5.6, the
    looseversion package after, the same comparison); an int met by a str raises TypeError in Python 3,
    so python exits 1 and the comparison fails."""

    def parse(text):
        return [int(c) if c.isdigit() else c for c in re.split(r"(\d+|[a-z]+|\.)", text) if c and c != "."]

    try:
        return parse(a) <= parse(b)
    except TypeError:
        return False


def _storage_error(ctx, answers):
    """The role's storage domain tasks, as the deployment host and the Engine see the storage; None when fine."""
    kind = answers["OVEHOSTED_STORAGE/domainType"]
    if kind in ("nfs", "nfs3", "nfs4", "glusterfs"):
        return (
            nfs_error(ctx, answers)
            if kind != "glusterfs"
            else storage.gluster_domain_error(ctx, answers["OVEHOSTED_STORAGE/storageDomainConnection"])
        )
    if kind == "iscsi":
        return storage.iscsi_domain_error(
            ctx,
            answers["OVEHOSTED_STORAGE/iSCSIPortalIPAddress"],
            answers["OVEHOSTED_STORAGE/iSCSITargetName"],
            answers["OVEHOSTED_STORAGE/LunID"],
            (
                answers.get("OVEHOSTED_STORAGE/iSCSIPortalUser") or None,
                answers.get("OVEHOSTED_STORAGE/iSCSIPortalPassword") or None,
            ),
        )
    return storage.fc_domain_error(ctx, answers["OVEHOSTED_STORAGE/LunID"])


def nfs_error(ctx, answers):
    connection = answers["OVEHOSTED_STORAGE/storageDomainConnection"].strip()
    server, _, path = connection.partition(":")
    version = answers.get("OVEHOSTED_STORAGE/nfsVersion", "auto")
    if version not in questions.NFS_VERSIONS:  # passed to the role unchecked; the Engine's NfsVersion refuses it
        return f"Invalid value for nfs_version: {version}"
    lab = _lab(ctx)
    refused = reach.nfs_error(lab, ctx.host, connection)
    if refused:
        return refused
    node = reach.host_named(lab, server).fs.get(path)
    if (node.uid, node.gid) != (36, 36):
        return (
            "Error creating a storage domain's metadata: ('Permission settings on the specified path do not "
            "allow access to the storage. Verify permission settings on the specified storage path.: "
            f"\\'path = /rhev/data-center/mnt/{server}:{path.replace('/', '_')}\\'',)"
        )
    return None


def _disk_size_error(ctx, answers):
    """gr-he-common/vm/image.py _customize_disk_size: at least the appliance's disk, and room for it plus the
    OVF stores (2 GiB) and the critical-space blocker (5 GiB) on the domain."""
    size = int(answers["OVEHOSTED_STORAGE/imgSizeGB"])
    needed = appliance_disk_gb(ctx, answers)
    if isinstance(needed, str):
        return needed
    if size < needed:
        return f"Minimum requirements to fit the disk from the appliance OVF not met (required {needed} GiB)"
    available = storage_available_gb(ctx, answers)
    if available is not None and size + 7 > available:
        return f"Not enough free space, about {available - 7} GiB will be available within the storage domain"
    return None


def appliance_disk_gb(ctx, answers):
    """The appliance disk's size as the deploy takes it (gr-he-ansiblesetup/core/misc.py: `qemu-img info`'s
    virtual-size // GiB + 1, of the image the role copied or extracted: get_local_vm_disk_size.yml), or the
    role's failure when the image is not there (ansible.builtin.copy/unarchive with remote_src)."""
    path = ctx.path(answers.get("OVEHOSTED_VM/ovfArchive") or _state(ctx)["he"]["appliance_path"])
    if not ctx.fs.exists(path) or ctx.fs.get(path).is_dir:
        return f"Source {path} not found"
    data = ctx.fs.read(path)
    disk = images.ova_disk(data) if path.endswith(".ova") else data
    return images.virtual_size(disk or b"") // images.GIB + 1


def storage_available_gb(ctx, answers):
    kind = answers["OVEHOSTED_STORAGE/domainType"]
    if kind in ("iscsi", "fc"):
        lun = storage.lun(ctx, answers["OVEHOSTED_STORAGE/LunID"])
        return int(lun["size_gb"]) if lun else None
    return None


def _deployed(ctx, run, entities, answers):
    """The new Engine runs in its VM on this host: the host is node 1, its HA services run."""
    lab, state = _lab(ctx), _state(ctx)
    new_state = _restored_state(ctx, entities, answers)
    he = {
        "deployed": True,
        "host_id": new_state["hosts"][entity_id("hosts", ctx.host.fqdn)]["spm_id"],
        "maintenance": False,
        "global_maintenance": False,
        "fqdn": answers["OVEHOSTED_NETWORK/fqdn"],
        "storage": storage_path(answers),
        "domain_type": answers["OVEHOSTED_STORAGE/domainType"],
        "deployed_at": time.time(),
        "vm_id": new_state.pop("he_vm_id"),
        "sd_id": new_state.pop("he_sd_id"),
        "gateway": answers["OVEHOSTED_NETWORK/gateway"],
        "bridge": answers["OVEHOSTED_NETWORK/bridgeIf"],
    }
    state["he"] = he  # the bootstrap VM is gone: its disk became the Engine VM's
    write_he_conf(ctx.host, he)
    for unit in ("vdsmd", "supervdsmd", "ovirt-ha-broker", "ovirt-ha-agent"):
        if unit in ctx.host.services:
            ctx.host.service_event(unit, "enable")
            ctx.host.service_event(unit, "start")
    answers_out = f"/var/lib/ovirt-hosted-engine-setup/answers/answers-{_now()}.conf"
    ctx.fs.mkdir(posixpath.dirname(answers_out), parents=True)
    _write(
        ctx,
        answers_out,
        "[environment:default]\n"
        + "".join(f"{k}={_typed(v)}\n" for k, v in sorted(answers.items()) if not SECRET_KEY.search(k)),
    )
    lab.engines.start_new(new_state)
    keys = answers.get("OVEHOSTED_VM/rootSshPubkey")
    vm = lab.add_engine_vm(
        answers["OVEHOSTED_NETWORK/fqdn"], engine_vm_nic(ctx, answers), [keys] if isinstance(keys, str) and keys else []
    )
    _engine_vm_logs(vm)
    lab._publish()
    run.print("[ INFO  ] Hosted Engine successfully deployed")
    run.print(
        "[ INFO  ] Other hosted-engine hosts have to be reinstalled in order to update their storage "
        "configuration. From the engine, host by host, please set maintenance mode and then click on "
        "reinstall button ensuring you choose DEPLOY in hosted engine tab."
    )
    run.print(
        "[ INFO  ] Please note that the engine VM ssh keys have changed. Please remove the engine VM "
        "entry in ssh known_hosts on your clients."
    )
    run.stage("Clean up")
    run.print(f"[ INFO  ] Generating answer file '{answers_out}'")
    run.stage("Pre-termination")
    run.stage("Termination")


ENGINE_SETUP_LOGS = "/var/log/ovirt-engine/setup"


def _engine_vm_logs(vm):
    """What the role left on the Engine VM: the restore's log (tasks/restore_backup.yml, `--log=/var/log/
    ovirt-engine/setup/restore-backup-<UTC stamp>.log`) and engine-setup's, in its own name format
    (ovirt-engine-setup-<stamp>-<random>.log). Their lines are the lab's, not upstream's."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    with vm.lock:
        vm.fs.mkdir(ENGINE_SETUP_LOGS, parents=True)
        vm.fs.write(
            f"{ENGINE_SETUP_LOGS}/restore-backup-{stamp}.log",
            b"Start of engine-backup with mode 'restore'\nRestoring:\n- Files\n- Engine database 'engine'\n"
            b"You should now run engine-setup.\nDone.\n",
            0o600,
        )
        vm.fs.write(
            f"{ENGINE_SETUP_LOGS}/ovirt-engine-setup-{stamp}-{uuid.uuid4().hex[:6]}.log",
            b"[ INFO  ] Stage: Initializing\n[ INFO  ] Execution of setup completed successfully\n",
            0o600,
        )
        vm.save()


SECRET_KEY = re.compile(r"Pwd|Password")  # answerfile.py writes no password


def storage_path(answers):
    """hosted-engine.conf's `storage`: the connection for file domains, the LUN for block ones."""
    kind = answers["OVEHOSTED_STORAGE/domainType"]
    if kind in ("iscsi", "fc"):
        return answers.get("OVEHOSTED_STORAGE/iSCSIPortalIPAddress") or answers["OVEHOSTED_STORAGE/LunID"]
    return answers["OVEHOSTED_STORAGE/storageDomainConnection"]


def _typed(value):
    if isinstance(value, bool):
        return f"bool:{value}"
    if isinstance(value, int):
        return f"int:{value}"
    if value is None:
        return "none:None"
    return f"str:{value}"


def _restored_state(ctx, entities, answers):
    """The new Engine's entities: the backup minus this host, plus this host, HostedEngine and hosted_storage."""
    state = copy.deepcopy(entities)
    state["events"] = []
    state["engine"]["fqdn"] = answers["OVEHOSTED_NETWORK/fqdn"]
    state["engine"]["version"] = appliance_engine_version(ctx)
    me = ctx.host
    for ident in _redeployed(ctx, state, answers):
        del state["hosts"][ident]
        for vm in state["vms"].values():
            if vm["host"] == ident:
                vm.update(host=None, status="down", migrating_to=None)
    cluster = _cluster(state, answers["OVEHOSTED_ENGINE/datacenterName"], answers["OVEHOSTED_ENGINE/clusterName"])
    host_id = entity_id("hosts", me.fqdn)
    state["hosts"][host_id] = {
        "id": host_id,
        "name": me.fqdn,
        "address": me.fqdn,
        "cluster": cluster["id"],
        "status": "up",
        "memory_mb": me.spec.ram_mb or 32768,
        "root_password": None,
        "type": "rhel",
        "status_detail": None,
        "he": dict(NO_HA_STATS),
        "spm_id": free_spm_id(state, cluster["id"]),
    }  # until host monitoring reads this host's haStats
    vm_id = entity_id("vms", "HostedEngine")
    state["vms"][vm_id] = {
        "id": vm_id,
        "name": "HostedEngine",
        "cluster": cluster["id"],
        "host": host_id,
        "status": "up",
        "memory_mb": int(answers["OVEHOSTED_VM/vmMemSizeMB"]),
        "placement": "migratable",
        "origin": "managed_hosted_engine",
        "migrating_to": None,
    }
    sd_name = answers.get("OVEHOSTED_STORAGE/storageDomainName", "hosted_storage")  # storage_domain.py default
    sd_id = entity_id("storagedomains", sd_name)
    state["storagedomains"][sd_id] = {
        "id": sd_id,
        "name": sd_name,
        "type": "data",
        "datacenter": cluster["datacenter"],
        "status": "active",
        "master": False,
        "storage": _domain_storage(answers),
    }
    state["he_vm_id"], state["he_sd_id"] = vm_id, sd_id
    return state


def _cluster(state, datacenter_name, cluster_name):
    """The role adds this host to the named data centre and cluster, creating whichever does not exist."""
    datacenter = next((d for d in state["datacenters"].values() if d["name"] == datacenter_name), None)
    if datacenter is None:
        datacenter = {
            "id": entity_id("datacenters", datacenter_name),
            "name": datacenter_name,
            "version": "4.7",
            "status": "up",
            "local": False,
        }
        state["datacenters"][datacenter["id"]] = datacenter
    cluster = next(
        (c for c in state["clusters"].values() if c["name"] == cluster_name and c["datacenter"] == datacenter["id"]),
        None,
    )
    if cluster is None:
        cluster = {
            "id": entity_id("clusters", f"{datacenter_name}/{cluster_name}"),
            "name": cluster_name,
            "datacenter": datacenter["id"],
            "version": "4.7",
            "cpu_type": "Secure Intel Cascadelake Server Family",
        }
        state["clusters"][cluster["id"]] = cluster
    return cluster


def _domain_storage(answers):
    kind = answers["OVEHOSTED_STORAGE/domainType"]
    if kind in ("iscsi", "fc"):
        unit = {"id": answers["OVEHOSTED_STORAGE/LunID"]}
        if kind == "iscsi":
            unit.update(
                address=answers["OVEHOSTED_STORAGE/iSCSIPortalIPAddress"],
                port=int(answers.get("OVEHOSTED_STORAGE/iSCSIPortalPort", 3260)),
                target=answers["OVEHOSTED_STORAGE/iSCSITargetName"],
            )
        return {"type": "iscsi" if kind == "iscsi" else "fcp", "logical_units": [unit]}
    server, _, path = answers["OVEHOSTED_STORAGE/storageDomainConnection"].strip().partition(":")
    found = {"type": "glusterfs" if kind == "glusterfs" else "nfs", "address": server, "path": path}
    if kind != "glusterfs" and answers.get("OVEHOSTED_STORAGE/nfsVersion", "auto") != "auto":
        found["nfs_version"] = answers["OVEHOSTED_STORAGE/nfsVersion"]
    return found


HE_CONF_KEYS = (
    "fqdn",
    "vm_disk_id",
    "vm_disk_vol_id",
    "vmid",
    "storage",
    "nfs_version",
    "mnt_options",
    "conf",
    "host_id",
    "console",
    "domainType",
    "spUUID",
    "sdUUID",
    "connectionUUID",
    "ca_cert",
    "ca_subject",
    "vdsm_use_ssl",
    "gateway",
    "bridge",
    "network_test",
    "tcp_t_address",
    "tcp_t_port",
    "metadata_volume_UUID",
    "metadata_image_UUID",
    "lockspace_volume_UUID",
    "lockspace_image_UUID",
    "conf_volume_UUID",
    "conf_image_UUID",
)


def write_he_conf(host, he):
    """/etc/ovirt-hosted-engine/hosted-engine.conf with the keys of ovirt-hosted-engine-setup's template
    (templates/hosted-engine.conf.in); ids the lab has no entity for are stable UUIDv5 values."""

    def uid(what):
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{what}.{he['fqdn']}"))

    values = {
        "fqdn": he["fqdn"],
        "vm_disk_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, he["fqdn"])),
        "vm_disk_vol_id": uid("vm-disk-vol"),
        "vmid": he["vm_id"],
        "storage": he["storage"],
        "nfs_version": "auto",
        "mnt_options": "",
        "conf": "/var/run/ovirt-hosted-engine-ha/vm.conf",
        "host_id": he["host_id"],
        "console": "vnc",
        "domainType": he["domain_type"],
        "spUUID": "00000000-0000-0000-0000-000000000000",
        "sdUUID": he["sd_id"],
        "connectionUUID": uid("connection"),
        "ca_cert": "/etc/pki/vdsm/libvirt-spice/ca-cert.pem",
        "ca_subject": '"C=EN, L=Test, O=Test, CN=Test"',
        "vdsm_use_ssl": "true",
        "gateway": he.get("gateway", ""),
        "bridge": he.get("bridge", "ovirtmgmt"),
        "network_test": "dns",
        "tcp_t_address": "",
        "tcp_t_port": "",
        "metadata_volume_UUID": uid("metadata-volume"),
        "metadata_image_UUID": uid("metadata-image"),
        "lockspace_volume_UUID": uid("lockspace-volume"),
        "lockspace_image_UUID": uid("lockspace-image"),
        "conf_volume_UUID": uid("conf-volume"),
        "conf_image_UUID": uid("conf-image"),
    }
    host.fs.mkdir(posixpath.dirname(HE_CONF), parents=True)
    host.fs.write(HE_CONF, "".join(f"{k}={values[k]}\n" for k in HE_CONF_KEYS).encode(), 0o440, 36, 36)


_HA_UNITS = {
    "ovirt-ha-broker": "oVirt Hosted Engine High Availability Communications Broker",
    "ovirt-ha-agent": "oVirt Hosted Engine High Availability Monitoring Agent",
}


def he_node_deploy(host, lab, spm_id):
    """host-deploy's hosted-engine DEPLOY (ovirt-engine ovirt-host-deploy-hosted-engine/tasks/deploy.yml): stop
    the HA services, install ovirt-hosted-engine-setup, store hosted-engine.conf (vdsm:kvm 0440) with the
    host's HA id (its vds_spm_id, HostedEngineHelper), then enable and restart ovirt-ha-agent (which wants ovirt-ha-broker)."""
    origin = next(
        (
            h.ovirt["he"]
            for h in lab.hosts.values()
            if h.ovirt.get("he", {}).get("deployed") and not h.ovirt["he"].get("via_engine")
        ),
        None,
    )
    if origin is None:
        return
    for unit in _HA_UNITS:
        if host.services.get(unit, {}).get("active"):
            host.service_event(unit, "stop")
    he = {key: origin.get(key) for key in ("fqdn", "storage", "domain_type", "vm_id", "sd_id", "gateway", "bridge")}
    he.update(
        deployed=True,
        via_engine=True,
        host_id=spm_id,
        maintenance=False,
        global_maintenance=bool(origin.get("global_maintenance")),
        deployed_at=time.time(),
    )
    host.ovirt["he"] = he
    for package in (HE_PACKAGE, "ovirt-hosted-engine-ha"):  # -setup requires -ha
        if package not in host.packages:
            host.packages.append(package)
    write_he_conf(host, he)
    for unit, description in _HA_UNITS.items():
        if unit not in host.services:
            host.services[unit] = {
                "active": False,
                "enabled": False,
                "description": description,
                "since": time.time(),
                "counts": {},
                "events": [],
            }
    host.service_event("ovirt-ha-agent", "enable")
    host.service_event("ovirt-ha-agent", "restart")


def he_node_undeploy(host):
    """host-deploy's hosted-engine UNDEPLOY (tasks/remove.yml): hosted-engine.conf removed, ovirt-ha-agent
    stopped (still enabled, but its unit's ConditionFileNotEmpty keeps it from starting again)."""
    if host.fs.exists(HE_CONF):
        host.fs.remove(HE_CONF)
    if host.services.get("ovirt-ha-agent", {}).get("active"):
        host.service_event("ovirt-ha-agent", "stop")
    host.ovirt["he"] = {}


def _he_nodes(lab):
    return [h for h in lab.hosts.values() if h.ovirt.get("he", {}).get("deployed")]


def he_vm_host(state):
    """The Engine's host entity that runs the HostedEngine VM now, or None."""
    vm = next(
        (
            vm
            for vm in state["vms"].values()
            if vm.get("origin") == "managed_hosted_engine" or vm["name"] == "HostedEngine"
        ),
        None,
    )
    if vm is None or vm["host"] is None or vm["status"] not in ("up", "migrating"):
        return None
    return state["hosts"].get(vm["host"])


def ha_stats(lab, vm_host=None, engine_up=False):
    """What each node's ovirt-ha-agent last published on the shared storage (the HA client's
    get_all_host_stats), keyed by HA host id. `vm_host` is the Engine's host entity running HostedEngine."""
    global_maintenance = _global_maintenance(lab)
    out = {}
    for node in _he_nodes(lab):
        here = vm_host is not None and lab.engines.api_host_for(node, [vm_host]) is not None
        out[node.ovirt["he"]["host_id"]] = _node_stats(lab, node, here, engine_up, global_maintenance)
    return out


def _node_stats(lab, node, vm_here, engine_up, global_maintenance):
    he, agent = node.ovirt["he"], node.services.get("ovirt-ha-agent", {})
    local = bool(he.get("maintenance"))
    # An agent that (re)starts publishes nothing until its monitoring loop runs (agent/hosted_engine.py
    # start_monitoring: VDSM, the broker, the domain monitor and the sanlock lock first), so readers keep seeing the
    # record it published last; a node that never published has engine-status null (engine_status() of 'None').
    first_check = float(settings(lab.site)["ha_first_health_seconds"])
    starting = agent.get("active") and time.time() - agent.get("since", 0) < first_check
    if starting:
        status = he.get("published_status")
    else:
        status = he["published_status"] = _engine_status(vm_here, engine_up)
    return _stats_record(
        node.fqdn,
        he["host_id"],
        0 if local else BASE_SCORE,
        local,
        status,
        bool(agent.get("active")),
        he.get("deployed_at", time.time()),
        global_maintenance,
    )


def _all_stats(lab):
    new = lab.engines.new
    if new is None:
        return ha_stats(lab)
    with new.site.lock:
        new.site.tick()
        vm_host = copy.deepcopy(he_vm_host(new.site.state))
    return ha_stats(lab, vm_host, new.is_up())


def ha_info(lab, api_host, state):
    """VDSM's haStats for the Engine's host entity (vdsm host/api.py _getHaInfo): configured once the host has
    an HA host id, the rest from its agent's published stats; None when no lab host answers for it."""
    node = next((h for h in lab.hosts.values() if lab.engines.api_host_for(h, [api_host])), None)
    if node is None:
        return None
    if node.powered_off:  # its VDSM does not answer
        return NOT_ANSWERING
    if not node.ovirt.get("he", {}).get("deployed"):
        return dict(NO_HA_STATS)
    vm_host = he_vm_host(state)
    here = vm_host is not None and lab.engines.api_host_for(node, [vm_host]) is not None
    global_maintenance = _global_maintenance(lab)
    stats = _node_stats(lab, node, here, True, global_maintenance)
    return {
        "configured": True,
        "active": stats["live-data"],
        "score": stats["score"],
        "global_maintenance": global_maintenance,
        "local_maintenance": stats["maintenance"],
    }


def _engine_status(vm_running_here, engine_up):
    """The `engine-status` of one host's stats, as ovirt-ha-agent reports it."""
    if not vm_running_here:
        return {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}
    if engine_up:
        return {"vm": "up", "health": "good", "detail": "Up"}
    return {"vm": "up", "health": "bad", "detail": "Up", "reason": "failed liveliness check"}


def _global_maintenance(lab):
    return any(h.ovirt["he"].get("global_maintenance") for h in _he_nodes(lab))


def _stats_record(hostname, host_id, score, maintenance, status, live, deployed_at, global_maintenance):
    ts = int(time.time() - deployed_at) + 1000
    state_name = (
        "LocalMaintenance"
        if maintenance
        else "GlobalMaintenance"
        if global_maintenance
        else ("ReinitializeFSM" if status is None else "EngineUp" if status["vm"] == "up" else "EngineDown")
    )
    extra = (
        "metadata_parse_version=1\nmetadata_feature_version=1\n"
        f"timestamp={ts} ({time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime())})\n"
        f"host-id={host_id}\nscore={score}\nvm_conf_refresh_time={ts}\n"
        "conf_on_shared_storage=True\n"
        f"maintenance={maintenance}\nstate={state_name}\nstopped=False\n"
    )
    return {
        "conf_on_shared_storage": True,
        "live-data": live,
        "extra": extra,
        "hostname": hostname,
        "host-id": host_id,
        "engine-status": status,
        "score": score,
        "stopped": False,
        "maintenance": maintenance,
        "crc32": "%08x" % (zlib.crc32(extra.encode()) & 0xFFFFFFFF),
        "local_conf_timestamp": ts,
        "host-ts": ts,
    }


def _he_ready(ctx):
    """hosted-engine.in: without hosted-engine.conf (no `vmid`), exit_not_deployed."""
    if not _state(ctx)["he"].get("deployed") or not ctx.fs.exists(HE_CONF):
        ctx.print("You must run deploy first")
        return False
    return True


BROKER_DOWN = (
    "[Errno 2] No such file or directory\nCannot connect to the HA daemon, please check the logs.\n"
    "An error occured while retrieving vm status, please make sure the HA daemon is ready and reachable.\n"
    "Unable to connect the HA Broker "
)
# vm_status.py --json with the broker down: its error text holds a line break, which its own json.loads refuses
BROKER_DOWN_JSON = (
    'Traceback (most recent call last):\n  File "/usr/lib/python3.6/site-packages/'
    'ovirt_hosted_engine_setup/vm_status.py", line 82, in _get_all_host_stats\n'
    "json.decoder.JSONDecodeError: Invalid control character at: line 1 column 50 (char 49)"
)


def _he_vm_status(ctx, args):
    if any(a != "--json" for a in args):
        raise Unsupported(f"hosted-engine --vm-status: options not implemented: {' '.join(args)}")
    if not _state(ctx)["he"].get("deployed") and LOCAL_VM in domains(ctx):
        ctx.print(  # hosted-engine.in cmd_vm_status: no vmid, and `virsh -r domstate HostedEngineLocal` answers
            "It seems like a previous attempt to deploy hosted-engine failed or it's still in progress. "
            "Please clean it up before trying again"
        )
        return 2
    if not _he_ready(ctx):
        return 1
    if not ctx.host.services.get("ovirt-ha-broker", {}).get("active"):
        ctx.error(BROKER_DOWN_JSON if args else BROKER_DOWN)
        return 1
    all_stats = _all_stats(_lab(ctx))
    global_maintenance = _global_maintenance(_lab(ctx))
    if args:
        ctx.print(
            json.dumps({**{str(i): s for i, s in sorted(all_stats.items())}, "global_maintenance": global_maintenance})
        )
        return 0
    if global_maintenance:  # vm_status.py prints the banner before the hosts
        ctx.print("\n\n!! Cluster is in GLOBAL MAINTENANCE mode !!\n")
    for _, stats in sorted(all_stats.items()):
        _he_print_host(ctx, stats)
    return 0


def _he_print_host(ctx, stats):
    labels = [
        ("host-id", "Host ID"),
        ("host-ts", "Host timestamp"),
        ("score", "Score"),
        ("engine-status", "Engine status"),
        ("hostname", "Hostname"),
        ("maintenance", "Local maintenance"),
        ("stopped", "stopped"),
        ("local_conf_timestamp", "Local conf file timestamp"),
        ("live-data", "Status up-to-date"),
        ("conf_on_shared_storage", "Configuration on shared storage"),
        ("crc32", "crc32"),
    ]
    ctx.print(f"\n\n--== Host {stats['hostname']} (id: {stats['host-id']}) status ==--\n")
    for key, label in labels:
        value = json.dumps(stats[key]) if key == "engine-status" else stats[key]
        ctx.print(f"{label:35}: {value}")
    ctx.print(f"{'Extra metadata (valid at timestamp)':35}:")
    for line in stats["extra"].splitlines():
        ctx.print(f"\t{line}")


def _he_set_maintenance(ctx, args):
    mode = None
    if args[0].startswith("--set-maintenance="):
        mode = args[0].split("=", 1)[1]
    elif len(args) > 1 and args[1].startswith("--mode="):
        mode = args[1].split("=", 1)[1]
    if mode not in ("global", "local", "none"):
        ctx.error(f"Invalid maintenance mode: {mode}")
        return 1
    if not _he_ready(ctx):
        return 1
    lab = _lab(ctx)
    if mode == "local" and _vm_runs_here(ctx, lab):
        ctx.error(
            "Unable to enter local maintenance mode: the engine VM is running on the current host, please "
            "migrate it before entering local maintenance mode."
        )
        return 1
    # set_maintenance.py Maintenance.set_mode: LOCAL, GLOBAL and LOCAL_MANUAL each set, so a mode clears the other
    _state(ctx)["he"]["maintenance"] = mode == "local"
    for node in _he_nodes(lab):  # the global flag is the cluster's: kept on every node's state
        node.ovirt["he"]["global_maintenance"] = mode == "global"
    return 0


def _vm_runs_here(ctx, lab):
    """VDSM's getVMList on this host holds the Engine VM (set_maintenance.py checks it for local maintenance)."""
    new = lab.engines.new
    if new is None:
        return False
    with new.site.lock:
        new.site.tick()
        vm_host = copy.deepcopy(he_vm_host(new.site.state))
    return vm_host is not None and lab.engines.api_host_for(ctx.host, [vm_host]) is not None
