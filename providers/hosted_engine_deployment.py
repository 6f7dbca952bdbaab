"""HostedEngineDeployment: the backup restored into a new self-hosted Engine VM (procedure 6 and 7).

On the fresh deployment host: ovirt-hosted-engine-setup present, the backup copied from the backup
server and checked against its checksum, then `hosted-engine --deploy --restore-from-file` run
without a single prompt, from an otopi answer file made from the stack's settings. The answer file
holds passwords: it is written with mode 0600 before any byte goes in, never appears on a command
line, and is removed when the deploy ends. Then the Engine VM gets the modules the Engine needs.

A running Engine VM is never deployed over: a host that already runs it is adopted. Deleting the
resource does not tear the Engine down (that is the site's whole management plane); the stack
protects it, and the README says how to retire it on purpose.
"""

from __future__ import annotations

import json
import posixpath
import sys
import time

import ovirtsdk4
import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from providers import engine_api
from providers.ssh import Connection, Host, connect, copy_file
from providers.timing import TIMING_OUTPUTS, timed

SETUP_PACKAGE = "ovirt-hosted-engine-setup"
DEPLOY_UNIT = "ovirt-she-hosted-engine-deploy"
ENGINE_MODULES = ("javapackages-tools", "pki-deps", "postgresql:12")
KNOWN_HOSTS_NOTE = (
    "the deployment changed the Engine's SSH host key: remove the original Engine's entry for {fqdn} from "
    "~/.ssh/known_hosts on every client machine that reached it, and trust the new key: {key}"
)


class DeploymentError(Exception):
    """The deployment cannot go ahead; the message says why and what to do."""


def _typed(value) -> str:
    if isinstance(value, bool):
        return f"bool:{value}"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"int:{int(value)}"
    return f"str:{value}"


def answers(props: dict) -> dict:
    """The otopi answers for a non-interactive restore deploy, keyed as ovirt-hosted-engine-setup reads them."""
    vm, storage, smtp = props["vm"], props["storage"], props["smtp"]
    found = {
        "OVEHOSTED_CORE/deployProceed": True,
        "OVEHOSTED_CORE/renewPKIonRestore": bool(props["renewPki"]),
        "OVEHOSTED_CORE/pauseonRestore": False,
        "OVEHOSTED_NETWORK/fqdn": props["fqdn"],
        "OVEHOSTED_NETWORK/bridgeIf": props["bridgeInterface"],
        "OVEHOSTED_NETWORK/gateway": props["gateway"],
        "OVEHOSTED_VM/vmMemSizeMB": int(vm["memoryMB"]),
        "OVEHOSTED_VM/vmVCpus": int(vm["vcpus"]),
        "OVEHOSTED_VM/cloudinitVMETCHOSTS": True,
        "OVEHOSTED_VM/rootSshAccess": "yes",
        "OVEHOSTED_VM/rootSshPubkey": props["rootSshPublicKey"],
        "OVEHOSTED_VM/cloudinitRootPwd": props["engineRootPassword"],
        "OVEHOSTED_ENGINE/adminPassword": props["adminPassword"],
        "OVEHOSTED_ENGINE/clusterName": props["clusterName"],
        "OVEHOSTED_STORAGE/domainType": storage["type"],
        "OVEHOSTED_STORAGE/imgSizeGB": str(int(storage["diskSizeGB"])),
        "OVEHOSTED_NOTIF/smtpServer": smtp["server"],
        "OVEHOSTED_NOTIF/smtpPort": str(int(smtp["port"])),
        "OVEHOSTED_NOTIF/sourceEmail": smtp["sender"],
        "OVEHOSTED_NOTIF/destEmail": ",".join(smtp["recipients"]),
    }
    if vm.get("macAddress"):
        found["OVEHOSTED_VM/vmMACAddr"] = vm["macAddress"]
    if vm.get("staticCIDR"):
        found["OVEHOSTED_VM/cloudinitVMStaticCIDR"] = vm["staticCIDR"]
        found["OVEHOSTED_VM/cloudinitVMDNS"] = ",".join(vm.get("dns") or [])
    found.update(_storage_answers(storage))
    return found


def _storage_answers(storage: dict) -> dict:
    kind = storage["type"]
    if kind in ("nfs", "glusterfs"):
        found = {"OVEHOSTED_STORAGE/storageDomainConnection": storage["connection"],
                 "OVEHOSTED_STORAGE/mntOptions": storage.get("mountOptions", "")}
        if kind == "nfs":
            found["OVEHOSTED_STORAGE/nfsVersion"] = storage.get("nfsVersion", "auto")
        return found
    if kind == "iscsi":
        return {"OVEHOSTED_STORAGE/iSCSIPortalIPAddress": storage["portal"],
                "OVEHOSTED_STORAGE/iSCSIPortalPort": str(int(storage.get("port", 3260))),
                "OVEHOSTED_STORAGE/iSCSITargetName": storage["target"],
                "OVEHOSTED_STORAGE/LunID": storage["lun"]}
    return {"OVEHOSTED_STORAGE/LunID": storage["lun"]}


def answer_file(values: dict) -> str:
    return "[environment:default]\n" + "".join(f"{key}={_typed(value)}\n" for key, value in sorted(values.items()))


def _deploy_host(props: dict) -> Connection:
    return connect(Host.from_props(props["deployHost"]), props["privateKey"])


def _progress(host: str):
    def show(line: str) -> None:
        print(f"{host}: {line}", file=sys.stderr, flush=True)  # the engine shows provider stderr as it comes
    return show


HE_CONF = "/etc/ovirt-hosted-engine/hosted-engine.conf"


def engine_vm_up(vm_status_json: str) -> bool:
    """Whether `hosted-engine --vm-status --json` shows the Engine VM up on a node whose data is live: an
    agent with no health data yet reports `engine-status` null, and `live-data: false` is stale data."""
    entries = [e for e in json.loads(vm_status_json).values() if isinstance(e, dict)]
    return any(e.get("live-data") and (e.get("engine-status") or {}).get("vm") == "up" for e in entries)


def _engine_vm_running(deploy: Connection) -> bool:
    status = deploy.run("hosted-engine", "--vm-status", "--json", check=False)
    return status.exit_status == 0 and engine_vm_up(status.stdout)


def _deployed(deploy: Connection) -> bool:
    """Hosted-engine is deployed on the host: its hosted-engine.conf exists and is not empty, whether or
    not the Engine VM runs right now (it may be migrating, or down for maintenance)."""
    return deploy.run("test", "-s", HE_CONF, check=False).exit_status == 0


def _wait_for_a_running_deploy(props: dict, deploy: Connection) -> None:
    """An interrupted `pulumi up` leaves its deploy running on the host: let it finish, never start a second."""
    deadline = time.monotonic() + props["deployTimeout"]
    while deploy.run("pgrep", "-f", "hosted-engine --deploy", check=False).exit_status == 0:
        if time.monotonic() > deadline:
            raise DeploymentError(f"a `hosted-engine --deploy` still runs on {deploy.host.name} after "
                                  f"{props['deployTimeout']}s: follow it in /var/log/ovirt-hosted-engine-setup/")
        time.sleep(5)


def _ensure_setup_package(deploy: Connection) -> None:
    if deploy.run("rpm", "-q", SETUP_PACKAGE, check=False).exit_status == 0:
        return
    if deploy.run("nodectl", "check", check=False).exit_status == 0:
        raise DeploymentError(f"{deploy.host.name} is an oVirt Node without {SETUP_PACKAGE}: reinstall the node image")
    deploy.run("dnf", "install", "-y", SETUP_PACKAGE)


def _fetch_backup(props: dict, deploy: Connection) -> str:
    server = connect(Host.from_props(props["backupServer"]), props["privateKey"])
    target = posixpath.join(props["backupDirectory"], posixpath.basename(props["backupFile"]))
    deploy.run("mkdir", "-p", props["backupDirectory"])
    copied = copy_file(server, props["backupFile"], deploy, target)
    if copied.sha256 != props["backupSha256"]:
        raise DeploymentError(
            f"the backup copied from {props['backupServer']['name']}:{props['backupFile']} has sha256 {copied.sha256}, "
            f"not the {props['backupSha256']} recorded when it was taken: it is damaged. Nothing was deployed."
        )
    return target


def _run_deploy(props: dict, deploy: Connection, backup: str) -> None:
    answers_path = posixpath.join(props["backupDirectory"], "ovirt-she-answers.conf")
    deploy.write_file(answers_path, answer_file(answers(props)).encode(), mode=0o600)
    try:
        # As a transient service, as the procedure runs it under tmux: a dropped SSH session must not kill it.
        deploy.run("systemd-run", f"--unit={DEPLOY_UNIT}", "--collect", "--wait", "--pipe", "--quiet", "--",
                   "hosted-engine", "--deploy", f"--restore-from-file={backup}", f"--config-append={answers_path}",
                   on_line=_progress(deploy.host.name))
    finally:
        deploy.run("rm", "-f", "--", answers_path)


def _engine_vm(props: dict, deploy: Connection) -> tuple[Connection, str]:
    """Reaches the new VM with the host key the trusted deployment host sees for it."""
    target = props["engineVm"]
    scan = deploy.run("ssh-keyscan", "-t", "ed25519", "-p", str(int(target["port"])), props["fqdn"])
    keys = [line.split(" ", 1)[1] for line in scan.stdout.splitlines() if line and not line.startswith("#")]
    if not keys:
        raise DeploymentError(
            f"{deploy.host.name} cannot read the Engine VM's SSH host key (`ssh-keyscan {props['fqdn']}` found none): "
            f"check that {props['fqdn']} resolves on the deployment host and the VM's sshd runs, then `pulumi up` again"
        )
    key = keys[0]
    label = target["address"] if int(target["port"]) == 22 else f"[{target['address']}]:{int(target['port'])}"
    host = Host(target["name"], target["address"], int(target["port"]), target["user"], f"{label} {key}\n")
    return connect(host, props["privateKey"]), key


def enabled_modules(listing: str) -> set[str]:
    """`name` and `name:stream` of each row of `dnf module list --enabled`."""
    found = set()
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "[e]" or len(fields) >= 2 and fields[1].endswith("[e]"):
            stream = fields[1].removesuffix("[e]")
            found |= {fields[0], f"{fields[0]}:{stream}"}
    return found


def _enable_modules(vm: Connection) -> None:
    """Procedure 7: only the modules not yet enabled are enabled."""
    listing = vm.run("dnf", "module", "list", "--enabled", check=False)  # exits 1 when none is enabled
    enabled = enabled_modules(listing.stdout) if listing.exit_status == 0 else set()
    missing = [m for m in ENGINE_MODULES if m not in enabled]
    if missing:
        vm.run("dnf", "module", "-y", "enable", *missing)


def _engine_facts(props: dict) -> dict:
    connection = engine_api.connect(engine_api.Engine.from_props(props["engineApi"]), props["adminPassword"])
    system = connection.system_service()
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
        keys = ("fqdn", "storage", "deployHost")
        replaces = [k for k in keys if json.dumps(olds.get(k), sort_keys=True) != json.dumps(news.get(k), sort_keys=True)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    @timed
    def create(self, props):
        deploy = _deploy_host(props)
        _wait_for_a_running_deploy(props, deploy)
        if not _engine_vm_running(deploy):
            _ensure_setup_package(deploy)
            _run_deploy(props, deploy, _fetch_backup(props, deploy))
        vm, key = _engine_vm(props, deploy)
        _enable_modules(vm)
        pulumi.log.warn(KNOWN_HOSTS_NOTE.format(fqdn=props["fqdn"], key=key))
        outs = {**props, **_engine_facts(props), "engineUrl": f"https://{props['fqdn']}/ovirt-engine/",
                "engineVmHostKey": key, "modules": list(ENGINE_MODULES)}
        return CreateResult(f"{props['deployHost']['name']}:HostedEngine", outs)

    def read(self, id_, props):
        """Gone only when the host has no hosted-engine configuration; an Engine that does not answer
        right now keeps what the state knew of it."""
        if not _deployed(_deploy_host(props)):
            return ReadResult(None, {})
        try:
            facts = _engine_facts(props)
        except ovirtsdk4.Error as err:
            pulumi.log.warn(f"the new Engine does not answer ({err}); its VM may be down or migrating: "
                            f"`hosted-engine --vm-status` on {props['deployHost']['name']} shows where it is")
            facts = {}
        return ReadResult(id_, {**props, **facts})

    def delete(self, _id, props):
        """Leaves the Engine VM running: retiring a site's Engine is not a side effect of a stack change."""
        pulumi.log.warn(f"HostedEngineDeployment removed from the stack; the Engine VM on {props['deployHost']['name']} keeps running")


class HostedEngineDeployment(Resource, module="ovirt", name="HostedEngineDeployment"):
    """The self-hosted Engine VM deployed from the backup; outputs name the new Engine and its VM."""

    engineUrl: pulumi.Output[str]
    engineVmHostKey: pulumi.Output[str]
    engineVmId: pulumi.Output[str]
    hostedStorageDomainId: pulumi.Output[str]

    def __init__(self, name: str, props: dict, opts=None):
        secret = ["privateKey", "adminPassword", "engineRootPassword"]
        outputs = {"engineUrl": None, "engineVmId": None, "hostedStorageDomainId": None, "engineVmHostKey": None, "modules": None, **TIMING_OUTPUTS}
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(protect=True), opts)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=secret))
        super().__init__(HostedEngineDeploymentProvider(), name, {**props, **outputs}, opts)
