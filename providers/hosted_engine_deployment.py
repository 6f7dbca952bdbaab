"""HostedEngineDeployment: the backup restored into a new self-hosted Engine VM (procedure 6 and 7).

On the fresh deployment host: ovirt-hosted-engine-setup present, the backup there (EngineBackup wrote it as it
copied it off; copied from the backup server only when missing) and checked against its checksum, then `hosted-engine --deploy --restore-from-file` run
without a single prompt, from an otopi answer file made from the stack's settings. The answer file
holds passwords: it is written with mode 0600 before any byte goes in, never appears on a command
line, and is removed when the deploy ends. Then the Engine VM gets the modules the Engine needs.

A host where hosted-engine is already deployed is never deployed over: it is adopted. The deploy runs
as a transient systemd unit whose output goes to a file on the host that the provider follows, so
neither a dropped session nor a killed `pulumi up` stops it; the next `up` follows it again. Deleting the
resource does not tear the Engine down (that is the site's whole management plane); the stack
protects it, and the README says how to retire it on purpose.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import time

import ovirtsdk4
import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, Resource, ResourceProvider

from providers import base, records, remote_job
from providers.errors import StepError
from providers.ssh import Connection, Host, connect, copy_file, known_hosts_name, sha256_of
from providers.timing import Steps, now, timed

DEPLOY = remote_job.Job("ovirt-she-hosted-engine-deploy", "/var/log/ovirt-she-migration/hosted-engine-deploy.log")
SETUP_LOGS = "/var/log/ovirt-hosted-engine-setup/"
# roles/repositories (ovirt-ansible-collection): the streams an Engine VM needs; only those its OS has are enabled
ENGINE_MODULES = ("javapackages-tools", "pki-deps", "postgresql:12", "mod_auth_openidc:2.3", "nodejs:14")
# roles/hosted_engine_setup/tasks/pause_execution.yml: the role waits (up to 24 h) for this file to go
# The step after the deploy whose end is the new Engine first answering its API: where the outage window closes.
ENGINE_ANSWERS = "engine-answers"
PAUSED = re.compile(r"Pause execution until (\S+_he_setup_lock) is removed")
KNOWN_HOSTS_NOTE = (
    "the deployment changed the Engine's SSH host key: remove the original Engine's entry for {fqdn} from "
    "~/.ssh/known_hosts on every client machine that reached it, and trust the new key: {key}"
)


def _typed(value) -> str:
    if isinstance(value, bool):
        return f"bool:{value}"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"int:{int(value)}"
    return f"str:{value}"


def engine_vm_mac(fqdn: str) -> str:
    """A unicast MAC in the range the deploy proposes (00:16:3e:00-7f:xx:xx), the same for the same Engine."""
    digest = hashlib.sha256(fqdn.encode()).digest()
    return "00:16:3e:%02x:%02x:%02x" % (digest[0] & 0x7F, digest[1], digest[2])


def answers(props: dict) -> dict:
    """Every answer a restore deploy of ovirt-hosted-engine-setup 2.4 to 2.7 asks for (the lab's README lists
    the questions and where each answer comes from), keyed as its plugins read them. Standard input is
    /dev/null: a question left unanswered would end the deploy, default or not."""
    vm, storage, smtp = props["vm"], props["storage"], props["smtp"]
    found = {
        "OVEHOSTED_CORE/deployProceed": True,
        "OVEHOSTED_CORE/forceIpProceed": "yes",  # 2.6.5+: the deploy's IPv6-by-default warning, accepted
        "OVEHOSTED_CORE/renewPKIonRestore": bool(props["renewPki"]),
        "OVEHOSTED_CORE/pauseonRestore": False,
        "OVEHOSTED_CORE/enableKeycloak": bool(props["enableKeycloak"]),
        "OVEHOSTED_NETWORK/fqdn": props["fqdn"],
        "OVEHOSTED_NETWORK/host_name": props["hostName"],
        "OVEHOSTED_NETWORK/bridgeIf": props["bridgeInterface"],
        "OVEHOSTED_NETWORK/gateway": props["gateway"],
        "OVEHOSTED_NETWORK/network_test": props["networkTest"]["type"],
        "OVEHOSTED_ENGINE/datacenterName": props["dataCenterName"],
        "OVEHOSTED_ENGINE/clusterName": props["clusterName"],
        "OVEHOSTED_ENGINE/adminPassword": props["adminPassword"],
        "OVEHOSTED_VM/ovfArchive": props.get("applianceOva", ""),
        "OVEHOSTED_VM/vmMemSizeMB": int(vm["memoryMB"]),
        "OVEHOSTED_VM/vmVCpus": str(int(vm["vcpus"])),
        "OVEHOSTED_VM/vmMACAddr": vm.get("macAddress") or engine_vm_mac(props["fqdn"]),
        "OVEHOSTED_VM/cloudinitInstanceDomainName": props["fqdn"].split(".", 1)[1],  # asked by 2.4.x on restore
        "OVEHOSTED_VM/cloudinitRootPwd": props["engineRootPassword"],
        "OVEHOSTED_VM/rootSshPubkey": props["rootSshPublicKey"],
        "OVEHOSTED_VM/rootSshAccess": vm["rootSshAccess"],
        "OVEHOSTED_VM/applyOpenScapProfile": bool(vm.get("openScapProfile")),
        "OVEHOSTED_VM/enableFips": bool(vm["fips"]),
        "OVEHOSTED_VM/cloudinitVMStaticCIDR": vm.get("staticCIDR") or False,  # bool:False is DHCP
        "OVEHOSTED_VM/cloudinitVMETCHOSTS": bool(vm["etcHosts"]),
        "OVEHOSTED_STORAGE/domainType": storage["type"],
        "OVEHOSTED_STORAGE/storageDomainName": props["storageDomainName"],
        "OVEHOSTED_STORAGE/imgSizeGB": str(int(storage["diskSizeGB"])),
        "OVEHOSTED_NOTIF/smtpServer": smtp["server"],
        "OVEHOSTED_NOTIF/smtpPort": str(int(smtp["port"])),  # its check matches a string
        "OVEHOSTED_NOTIF/sourceEmail": smtp["sender"],
        "OVEHOSTED_NOTIF/destEmail": ",".join(smtp["recipients"]),
    }
    if vm.get("openScapProfile"):
        found["OVEHOSTED_VM/OpenScapProfileName"] = vm["openScapProfile"]
    if vm.get("staticCIDR"):
        found["OVEHOSTED_VM/cloudinitVMDNS"] = ",".join(vm.get("dns") or [])
    if props["networkTest"]["type"] == "tcp":
        found["OVEHOSTED_NETWORK/network_test_tcp_address"] = props["networkTest"]["address"]
        found["OVEHOSTED_NETWORK/network_test_tcp_port"] = str(int(props["networkTest"]["port"]))
    if props.get("offlineDeployment"):  # the only way to the role's he_offline_deployment (gr-he-ansiblesetup)
        found["OVEHOSTED_CORE/ansibleUserExtraVars"] = "he_offline_deployment=true"
    found.update(_storage_answers(storage, props))
    return found


def _storage_answers(storage: dict, props: dict) -> dict:
    kind = storage["type"]
    if kind in ("nfs", "glusterfs"):
        found = {
            "OVEHOSTED_STORAGE/storageDomainConnection": storage["connection"],
            "OVEHOSTED_STORAGE/mntOptions": storage.get("mountOptions", ""),
        }
        if kind == "nfs":
            found["OVEHOSTED_STORAGE/nfsVersion"] = storage.get("nfsVersion", "auto")
        return found
    if kind == "iscsi":
        return {
            "OVEHOSTED_STORAGE/iSCSIPortalIPAddress": storage["portal"],
            "OVEHOSTED_STORAGE/iSCSIPortalPort": str(int(storage.get("port", ISCSI_PORT))),
            "OVEHOSTED_STORAGE/iSCSIDiscoverUser": storage.get("discoverUser", ""),
            "OVEHOSTED_STORAGE/iSCSIDiscoverPassword": props.get("iscsiDiscoverPassword") or "",
            "OVEHOSTED_STORAGE/iSCSIPortalUser": storage.get("portalUser", ""),
            "OVEHOSTED_STORAGE/iSCSIPortalPassword": props.get("iscsiPortalPassword") or "",
            "OVEHOSTED_STORAGE/iSCSITargetName": storage["target"],
            "OVEHOSTED_STORAGE/LunID": storage["lun"],
        }
    return {"OVEHOSTED_STORAGE/LunID": storage["lun"]}


def answer_file(values: dict) -> str:
    return "[environment:default]\n" + "".join(f"{key}={_typed(value)}\n" for key, value in sorted(values.items()))


HE_CONF = "/etc/ovirt-hosted-engine/hosted-engine.conf"
ISCSI_PORT = 3260  # the deploy's iSCSIPortalPort when the stack gives none, as iscsiadm's own default
LOCAL_VM = "HostedEngineLocal"  # the deploy's bootstrap VM: no failure path of the role destroys it
CLEANUP = ("ovirt-hosted-engine-cleanup", "-q")  # -q: no confirmation asked (standard input is not a terminal)
RETRY = "hostedEngine.retryFailedDeploy"


def deployed(deploy: Connection) -> bool:
    """Hosted-engine is deployed on the host: its hosted-engine.conf exists and is not empty, whether or
    not the Engine VM runs right now (it may be migrating, or down for maintenance)."""
    return deploy.run("test", "-s", HE_CONF, check=False).exit_status == 0


def backup_on_host(directory: str, file_name: str) -> str:
    """Where the backup lies on the deployment host: EngineBackup writes it there, the deploy restores it from there."""
    return posixpath.join(directory, file_name)


def _backup_path(props: dict) -> str:
    return backup_on_host(props["backupDirectory"], posixpath.basename(props["backupFile"]))


def failed_record(directory: str, file_name: str) -> str:
    """Where a failed deploy is recorded on the deployment host, beside the backup it restored: the next `up`
    deploys again only when asked to (`hostedEngine.retryFailedDeploy`), after cleaning the host."""
    return records.beside_backup(directory, file_name, "deploy-failed")


def _failed_path(props: dict) -> str:
    return failed_record(props["backupDirectory"], posixpath.basename(props["backupFile"]))


def runs_domain(deploy: Connection, name: str) -> bool:
    """libvirt runs the domain on the host (`virsh -r domstate`, as hosted-engine's own --vm-status asks)."""
    return deploy.run("virsh", "-r", "domstate", name, check=False).exit_status == 0


def previous_attempt(unit: dict, record: dict, bootstrap_vm_runs: bool) -> dict:
    """A deploy that failed on the host: its record, or the bootstrap VM a failed attempt left (one this tool did not
    run, say); {} when there is none, or while the deploy's unit is loaded (it runs, or its end is yet to be read)."""
    if remote_job.loaded(unit):
        return {}
    return record or ({"how": f"its bootstrap VM {LOCAL_VM} still runs"} if bootstrap_vm_runs else {})


def retry_next_step(host: str) -> str:
    return (
        f"Fix the cause, then set `{RETRY}: true` and run `pulumi up`: it runs `{' '.join(CLEANUP)}` on {host}, "
        f"checks the host is clean and deploys again from the same backup."
    )


def _fetch_backup(props: dict, deploy: Connection) -> None:
    """The backup as it was taken, on the deployment host: EngineBackup wrote it here as it copied it off, so it
    is copied from the backup server only when it is not here (a host replaced since, or the file removed)."""
    target = _backup_path(props)
    if sha256_of(deploy, target) == props["backupSha256"]:
        return
    server = base.ssh_host(props, "backupServer")
    deploy.run("mkdir", "-p", props["backupDirectory"])
    copied = copy_file(server, props["backupFile"], deploy, target)
    if copied.sha256 != props["backupSha256"]:
        raise StepError(
            deploy.host.name,
            f"the backup copied from {props['backupServer']['name']}:{props['backupFile']} has sha256 "
            f"{copied.sha256}, not the {props['backupSha256']} recorded when it was taken: it is damaged",
            "Nothing was deployed. Put the good copy back on the backup server, then run `pulumi up` again.",
        )


def _answers_path(props: dict) -> str:
    return posixpath.join(props["backupDirectory"], "ovirt-she-answers.conf")


def _write_answers(props: dict, deploy: Connection) -> list[str]:
    """The answer file (0600 before any byte goes in) and the deploy's command line, which names it."""
    backup, answers_path = _backup_path(props), _answers_path(props)
    found = answers({**props, "hostName": deploy.run("hostname", "-f").stdout.strip()})
    deploy.write_file(answers_path, answer_file(found).encode(), mode=0o600)
    return ["hosted-engine", "--deploy", f"--restore-from-file={backup}", f"--config-append={answers_path}"]


def _watch(props: dict, deploy: Connection):
    """While the deploy runs: a pause of the role is reported, and so is a deploy that outruns
    `hostedEngine.deployTimeout` (both are left running)."""
    deadline, scanned = time.monotonic() + props["deployTimeout"], [0]

    def watch(seen: list[str]) -> None:
        paused = [at for at in range(scanned[0], len(seen)) if PAUSED.search(seen[at])]
        scanned[0] = paused[-1] if paused else len(seen)
        if paused:
            _refuse_a_pause(deploy, seen, paused[-1])
        if time.monotonic() > deadline:
            raise StepError(
                deploy.host.name,
                f"still runs after {props['deployTimeout']}s (`hostedEngine.deployTimeout`)",
                f"It goes on: follow it with `tail -f {DEPLOY.output_file}`, and run "
                f"`pulumi up` again to follow it to its end; to give it up, `systemctl stop {DEPLOY.unit}` on "
                f"{deploy.host.name} and run `pulumi up`, which reports it failed.",
                command="hosted-engine --deploy",
            )

    return watch


def _refuse_a_pause(deploy: Connection, seen: list[str], at: int) -> None:
    """The role paused at line `at`: reported while its lock file is there; once removed, the deploy goes on."""
    lock = PAUSED.search(seen[at]).group(1)
    if deploy.run("test", "-e", lock, check=False).exit_status != 0:
        return
    why = "\n".join(seen[max(0, at - 12) : at])
    raise StepError(
        deploy.host.name,
        "paused after a failed step and waits up to 24 hours",
        f"Either fix it as said above (the bootstrap Engine VM is reachable from {deploy.host.name}), remove "
        f"{lock} on {deploy.host.name} to let the deploy go on, and run `pulumi up` again to follow it; or "
        f"give it up: `systemctl stop {DEPLOY.unit}` on {deploy.host.name} and run `pulumi up`, which reports it "
        f"failed. Logs: {SETUP_LOGS} on {deploy.host.name}.",
        command="hosted-engine --deploy",
        output=why,
    )


def plan(unit: dict, is_deployed: bool | None, failed: bool = False, retry: bool = False) -> list[str]:
    """The deploy's steps: a unit a killed `pulumi up` left (running or ended) is followed, never started again;
    after a failed deploy (`failed`, which counts before hosted-engine.conf, since a late failure leaves one) the host
    is cleaned and deployed again only when asked (`retry`), else refused; a host where
    hosted-engine is deployed is adopted as it is; otherwise the deploy started as a transient service (where the
    procedure uses tmux), and followed to its end. Its packages were installed before the backup
    (DeploymentHostPackages)."""
    if remote_job.loaded(unit):
        return ["follow"]
    if failed:
        return ["cleanup", "fetch", "start", "follow"] if retry else ["refuse"]
    return [] if is_deployed else ["fetch", "start", "follow"]


def _refuse(deploy: Connection, attempt: dict) -> None:
    raise StepError(
        deploy.host.name,
        f"a deploy failed here before ({attempt.get('how', 'see its record')}"
        + (f", at {attempt['failedAt']}" if attempt.get("failedAt") else "")
        + ") and left the host half-configured: it is not deployed over without being asked",
        retry_next_step(deploy.host.name) + f" Logs: {SETUP_LOGS} on {deploy.host.name}.",
        command="hosted-engine --deploy",
    )


def _clean(props: dict, deploy: Connection) -> None:
    """ovirt-hosted-engine-cleanup, never while an Engine VM runs here (it powers it off), then the host checked as
    the cleanup leaves it: no bootstrap VM, no hosted-engine.conf, the HA agent and VDSM stopped."""
    host = deploy.host.name
    if runs_domain(deploy, "HostedEngine"):
        raise StepError(
            host,
            "runs an Engine VM (HostedEngine): ovirt-hosted-engine-cleanup would power it off",
            f"Nothing was cleaned. See `hosted-engine --vm-status` on {host}; set `{RETRY}: false` if that Engine is "
            f"the one to keep.",
        )
    deploy.run(*CLEANUP)
    left = [LOCAL_VM] if runs_domain(deploy, LOCAL_VM) else []
    left += [HE_CONF] if deploy.run("test", "-e", HE_CONF, check=False).exit_status == 0 else []
    for unit in ("ovirt-ha-agent", "vdsmd"):
        left += [unit] if deploy.run("systemctl", "is-active", "--quiet", unit, check=False).exit_status == 0 else []
    if left:
        raise StepError(
            host,
            f"is not clean after `{' '.join(CLEANUP)}`: {', '.join(left)} still there",
            "Nothing was deployed. Clean it by hand (see ovirt-hosted-engine-cleanup(8)), then run `pulumi up` again.",
            command=" ".join(CLEANUP),
        )
    deploy.run("rm", "-f", "--", _failed_path(props))


def _follow(props: dict, deploy: Connection) -> None:
    """Follows the deploy to its end; the answer file (it holds passwords) goes when the deploy is over,
    whatever its result."""
    ended = remote_job.follow(
        deploy, DEPLOY, base.poll_interval(props), remote_job.progress(deploy.host.name), _watch(props, deploy)
    )
    deploy.run("rm", "-f", "--", _answers_path(props))
    if not ended.succeeded:
        records.write(deploy, _failed_path(props), {"how": ended.how, "failedAt": now()})
    remote_job.clear(deploy, DEPLOY, ended.state)
    if not ended.succeeded:
        raise StepError(
            deploy.host.name,
            f"failed ({ended.how})",
            f"See {SETUP_LOGS} on {deploy.host.name}. " + retry_next_step(deploy.host.name),
            command="hosted-engine --deploy",
            output=ended.last_lines(),
        )


def scanned_keys(stdout: str) -> list[str]:
    """The `type key` of each line `ssh-keyscan` printed (`name type key`); its comments are skipped."""
    return [line.split(" ", 1)[1] for line in stdout.splitlines() if line and not line.startswith("#")]


def _engine_vm(props: dict, deploy: Connection) -> tuple[Connection, str]:
    """Reaches the new VM with the host key the trusted deployment host sees for it."""
    target = props["engineVm"]
    scan = deploy.run("ssh-keyscan", "-t", "ed25519", "-p", str(int(target["port"])), props["fqdn"])
    keys = scanned_keys(scan.stdout)
    if not keys:
        raise StepError(
            deploy.host.name,
            "found no SSH host key of the Engine VM",
            f"Check that {props['fqdn']} resolves on the deployment host and the VM's sshd runs, then run `pulumi up` "
            f"again.",
            command=f"ssh-keyscan {props['fqdn']}",
        )
    key = keys[0]
    label = known_hosts_name(target["address"], target["port"])
    host = Host(target["name"], target["address"], int(target["port"]), target["user"], f"{label} {key}\n")
    return connect(host, props["privateKey"]), key


def module_streams(listing: str) -> tuple[set[str], set[str]]:
    """(available, enabled) as `name` and `name:stream`, from the rows of `dnf module list`."""
    available, enabled = set(), set()
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0] in ("Name", "Hint:") or line.startswith(("Last metadata", " ")):
            continue
        stream = fields[1].split("[")[0]
        names = {fields[0], f"{fields[0]}:{stream}"}
        available |= names
        if "[e]" in " ".join(fields[1:3]):
            enabled |= names
    return available, enabled


def modules_to_enable(listing: str) -> tuple[list[str], list[str]]:
    """Procedure 7: the Engine's module streams not yet enabled that the VM's OS has, and those it lacks
    (an EL9 appliance has none of them: nothing to enable is not a failure)."""
    available, enabled = module_streams(listing)
    missing = [m for m in ENGINE_MODULES if m not in enabled]
    return [m for m in missing if m in available], [m for m in missing if m not in available]


def _enable_modules(vm: Connection) -> list[str]:
    listing = vm.run("dnf", "module", "list", check=False)  # exits 1 when the OS has no modules at all
    wanted, absent = modules_to_enable(listing.stdout if listing.exit_status == 0 else "")
    if wanted:
        vm.run("dnf", "module", "-y", "enable", *wanted)
    if absent:
        pulumi.log.info(f"the Engine VM's OS has no module stream {', '.join(absent)}: nothing to enable for it")
    return [m for m in ENGINE_MODULES if m not in absent]


def _engine_facts(props: dict) -> dict:
    system = base.api(props, "engineApi").system_service()
    vms = system.vms_service().list(search="name=HostedEngine")
    domains = [d for d in system.storage_domains_service().list() if d.name == props["storageDomainName"]]
    return {"engineVmId": vms[0].id if vms else None, "hostedStorageDomainId": domains[0].id if domains else None}


class HostedEngineDeploymentProvider(ResourceProvider):
    def check(self, olds, news):
        failures = []
        if news.get("storage", {}).get("type") not in ("nfs", "iscsi", "fc", "glusterfs"):
            failures.append(CheckFailure("storage", "`hostedEngine.storage.type` must be nfs, iscsi, fc or glusterfs"))
        return CheckResult(news, failures)

    def diff(self, _id, olds, news):
        replace = [(key, base.canonical) for key in ("fqdn", "storage", "deployHost")]
        return base.diff(olds, news, replace=replace, delete_before_replace=True)

    @timed
    def create(self, props):
        deploy = base.ssh_host(props, "deployHost")
        unit = remote_job.state(deploy, DEPLOY)
        attempt = previous_attempt(unit, records.read(deploy, _failed_path(props)), runs_domain(deploy, LOCAL_VM))
        steps = {
            "refuse": lambda: _refuse(deploy, attempt),
            "cleanup": lambda: _clean(props, deploy),
            "fetch": lambda: _fetch_backup(props, deploy),
            "start": lambda: remote_job.start(deploy, DEPLOY, _write_answers(props, deploy)),
            "follow": lambda: _follow(props, deploy),
        }
        ran = Steps()
        is_deployed = None if remote_job.loaded(unit) else deployed(deploy)
        for step in plan(unit, is_deployed, bool(attempt), bool(props.get("retryFailedDeploy"))):
            ran.run(step, steps[step])
        facts = ran.run(ENGINE_ANSWERS, lambda: _engine_facts(props))  # the outage window closes here
        vm, key = _engine_vm(props, deploy)
        modules = _enable_modules(vm)
        pulumi.log.warn(KNOWN_HOSTS_NOTE.format(fqdn=props["fqdn"], key=key))
        outs = {
            **props,
            **facts,
            "steps": ran.ran,
            "engineUrl": f"https://{props['fqdn']}/ovirt-engine/",
            "engineVmHostKey": key,
            "modules": modules,
        }
        return CreateResult(f"{props['deployHost']['name']}:HostedEngine", outs)

    def read(self, id_, props):
        """Gone only when the host has no hosted-engine configuration; an Engine that does not answer
        right now keeps what the state knew of it."""
        if not deployed(base.ssh_host(props, "deployHost")):
            return ReadResult(None, {})
        try:
            facts = _engine_facts(props)
        except ovirtsdk4.Error as err:
            pulumi.log.warn(
                f"the new Engine does not answer ({err}); its VM may be down or migrating: "
                f"`hosted-engine --vm-status` on {props['deployHost']['name']} shows where it is"
            )
            facts = {}
        return ReadResult(id_, {**props, **facts})

    def delete(self, _id, props):
        """Leaves the Engine VM running: retiring a site's Engine is not a side effect of a stack change."""
        pulumi.log.warn(
            f"HostedEngineDeployment removed from the stack; the Engine VM on {props['deployHost']['name']} keeps running"
        )


class HostedEngineDeployment(Resource, module="ovirt", name="HostedEngineDeployment"):
    """The self-hosted Engine VM deployed from the backup; outputs name the new Engine and its VM."""

    engineUrl: pulumi.Output[str]
    engineVmHostKey: pulumi.Output[str]
    engineVmId: pulumi.Output[str]
    hostedStorageDomainId: pulumi.Output[str]

    def __init__(self, name: str, props: dict, opts=None):
        secrets = ["privateKey", "adminPassword", "engineRootPassword", "iscsiDiscoverPassword", "iscsiPortalPassword"]
        outputs = ("engineUrl", "engineVmId", "hostedStorageDomainId", "engineVmHostKey", "modules", "steps")
        super().__init__(
            HostedEngineDeploymentProvider(),
            name,
            base.properties(props, outputs),
            base.options(opts, secrets, protect=True),
        )
