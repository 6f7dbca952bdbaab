"""The simulated site: entities, their lifecycle rules and persistence.

Time-based transitions are stored as scheduled events with wall-clock
times and applied lazily on each request, so no timer threads are needed
and a restarted simulator resumes the same transitions.
"""

import copy
import json
import os
import re
import threading
import time
import uuid

from . import audit, fencing
from .search import Query

KINDS = ("datacenters", "clusters", "networks", "hosts", "storagedomains", "vms", "disks", "tags")
DEFAULT_DELAYS = {
    "migration": 1.0,  # one live migration
    "maintenance": 0.5,  # preparing_for_maintenance -> maintenance with no VMs
    # UpdateVds returns before its InstallVdsInternal runs in the Engine's thread pool (PrevalidatingMultipleActions
    # Runner.invokeCommands, ThreadPoolUtil.execute); the host is locked from the call, Installing only from then.
    "install_start": 0.3,
    "install": 3.0,  # installing (host-deploy)
    "reboot": 1.0,  # reboot after install, when asked for
    "initializing": 1.0,  # initializing -> up after activate/install
    # HostUpgradeCheckCommand only starts HostUpgradeCheckInternal (executeAsyncCommand), whose HostUpdatesChecker
    # logs the end after the call has answered
    "upgrade_check": 0.3,
}
MAINTENANCE_FROM = (
    "up",
    "preparing_for_maintenance",
    "non_operational",
    "install_failed",
    "down",
    "non_responsive",
    "error",
)
# InstallVdsInternalCommand / UpdateVdsCommand: a (re)install only from these (VDSStatus).
INSTALL_FROM = ("maintenance", "non_operational", "install_failed")
# VDSStatus.isEligibleForHostMonitoring: the engine polls getStats (and so haStats) of no host in these.
UNMONITORED = (
    "installing",
    "install_failed",
    "reboot",
    "maintenance",
    "pending_approval",
    "installing_os",
    "down",
    "kdumping",
)
NO_HA_STATS = {
    "configured": False,
    "active": False,
    "score": 0,
    "global_maintenance": False,
    "local_maintenance": False,
}  # vdsm host/api.py _getHaInfo() on a host without hosted-engine
ACTIVATE_FROM = ("maintenance", "preparing_for_maintenance", "non_operational", "install_failed", "down")
GIB = 1024**3
_NAMESPACE = uuid.UUID("6b1f0e4c-2f43-4c8e-9a57-0d6f2b1b7a10")


class ActionFailed(Exception):
    """A rejected request; the API renders it as a <fault> with this HTTP status."""

    def __init__(self, status, reason, detail):
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


class NotFound(ActionFailed):
    def __init__(self, ident):
        super().__init__(404, "Operation Failed", "Entity not found: %s" % ident)


def conflict(message):
    """Engine validation failures come back as 409 'Operation Failed' with the messages in brackets."""
    return ActionFailed(409, "Operation Failed", "[%s]" % message)


# The engine's English texts for the validation messages the lab's deactivate and migrate give, from ovirt-engine
# frontend/webadmin/modules/frontend/src/main/resources/org/ovirt/engine/ui/frontend/AppErrors.properties (the same
# file the backend translates with: backend/manager/modules/dal/pom.xml copies it into bundles/), the same in
# 4.4.0 to 4.5.7. Every key here is ErrorType.CONFLICT in EngineMessage.java, hence 409.
APP_ERRORS = {
    "VDS_CANNOT_MAINTENANCE_IT_INCLUDES_NON_MIGRATABLE_VM": "Cannot switch the following Hosts to Maintenance mode: ${HostsList}.\nOne or more running VMs are "
    "indicated as non-migratable. The non-migratable VMs are: ${VmsList}.",
    "VDS_CANNOT_MAINTENANCE_VDS_IS_IN_MAINTENANCE": "Cannot switch Host to Maintenance mode. Host is already in Maintenance mode.",
    "VDS_CANNOT_MAINTENANCE_VDS_IS_NOT_OPERATIONAL": "Cannot switch Host to Maintenance mode, Host is not operational.",
    "CANNOT_MAINTENANCE_VDS_RUN_VMS_NO_OTHER_RUNNING_VDS": "The following Hosts have running VMs and cannot be switched to maintenance mode: ${HostsList}.\nPlease "
    "ensure that the following Clusters have at least one Host in UP state: ${ClustersList}.",
    "ACTION_TYPE_FAILED_VM_IS_PINNED_TO_HOST": "Cannot ${action} ${type}. VM is pinned to Host.",
    "ACTION_TYPE_FAILED_VM_IS_NON_MIGRTABLE_AND_IS_NOT_FORCED_BY_USER_TO_MIGRATE": "Cannot ${action} ${type}. VM is non migratable and user did not specify the force-migration flag",
    "ACTION_TYPE_FAILED_MIGRATION_IN_PROGRESS": "Cannot ${action} ${type}. VM migration is in progress",
    "ACTION_TYPE_FAILED_OBJECT_LOCKED": "Cannot ${action} ${type}. Related operation is currently in progress. "
    "Please try again later.",
    "ACTION_TYPE_FAILED_VM_IS_NOT_RUNNING": "Cannot ${action} ${type}. VM is not running.",
    "ACTION_TYPE_FAILED_VM_IS_RUNNING": "Cannot ${action} ${type}. VM is running.",
    "ACTION_TYPE_FAILED_NO_VDS_AVAILABLE_IN_CLUSTER": "Cannot ${action} ${type}. There is no available operational Host (in UP state) in the relevant Cluster.",
}
# setActionMessageParameters: VAR__TYPE__HOST/VAR__ACTION__MAINTENANCE ($type Host, $action maintenance) for
# MaintenanceNumberOfVdssCommand, VAR__ACTION__MIGRATE/VAR__TYPE__VM for MigrateVmCommand.
MAINTENANCE_VARIABLES = {"type": "Host", "action": "maintenance"}
# Job descriptions: ovirt-engine backend/manager/modules/dal/src/main/resources/bundles/ExecutionMessages.properties
JOB_TEXTS = {
    "MaintenanceNumberOfVdss": "Moving Host(s) ${VDS} to Maintenance",
    "ActivateVds": "Invoking Activate Host ${VDS}",
    "InstallVdsInternal": "Installing Host ${VDS}",
    "UpdateVds": "Updating Host ${VDS} properties",
    "RunVm": "Launching VM ${VM}",
    "StopVm": "Stopping VM ${VM}",
    "MigrateVm": "Migrating VM ${VM}",
    "MigrateVmToServer": "Migrating VM ${VM} to Host ${VDS}",
    "UpdateVm": "Editing VM ${VM} properties",
}
MIGRATE_VARIABLES = {"type": "VM", "action": "migrate"}
RUN_VARIABLES, STOP_VARIABLES = {"type": "VM", "action": "run"}, {"type": "VM", "action": "stop"}
# What PUT may change (restapi BackendHostResource/BackendVmResource.update through HostMapper/VmMapper, as far as
# the lab keeps it): request field -> state key.
HOST_UPDATABLE = ("name", "comment", "spm_priority", "power_management", "kernel_cmdline")
VM_UPDATABLE = ("name", "comment", "description", "memory_mb")


def spm_of(state, datacenter_id):
    """The data centre's SPM: the lab's choice of election, the Up host of highest SPM priority (then by name); the
    engine keeps the one it elected until it leaves Up."""
    clusters = {c["id"] for c in state["clusters"].values() if c["datacenter"] == datacenter_id}
    up = [
        h
        for h in state["hosts"].values()
        if h["cluster"] in clusters and h["status"] == "up" and h["spm_priority"] > -1
    ]
    return min(up, key=lambda h: (-h["spm_priority"], h["name"]))["id"] if up else None


def refused(key, variables, **values):
    """A failed validate(), as the REST API answers it (BackendResource.backendFailure): 409 for a CONFLICT message,
    reason Messages.properties BACKEND_FAILED ("Operation Failed"), detail the translated messages' list in Java's
    List.toString form, its ${name} variables substituted (ErrorTranslatorImpl.resolveMessages)."""
    names = dict(variables, **values)
    text = re.sub(r"\$\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), APP_ERRORS[key])
    return ActionFailed(409, "Operation Failed", "[%s]" % text)


# What a model entity has when the model does not say. The host's hardware, OS and VDSM are the lab's (an EL8
# hypervisor with VDSM 4.50, as the default site's hosts are); the rest are the engine's own defaults: VdsStatic()
# (spm priority 5, pm_kdump_detection true, comment ""), VmStatic/VmBase (comment and description "").
SPECS = {
    "datacenters": {"version": "4.7", "status": "up", "local": False, "comment": "", "description": ""},
    "clusters": {
        "datacenter": None,
        "version": "4.7",
        "cpu_type": "Secure Intel Cascadelake Server Family",
        "fips_mode": "undefined",  # Cluster.fipsMode until a first host comes Up (InitVdsOnUpCommand)
        "comment": "",
        "description": "",
    },
    "networks": {
        "datacenter": None,
        "usages": ["vm"],
        "clusters": [],
        "vnic_profiles": None,  # names; None: a VM network's own (AddNetworkCommand creates it), none otherwise
        "vlan": None,
        "mtu": 0,
        "comment": "",
        "description": "",
    },
    "hosts": {
        "address": None,
        "cluster": None,
        "status": "up",
        "memory_mb": 65536,
        "root_password": None,
        "type": "rhel",
        "status_detail": None,
        "comment": "",
        "spm_priority": 5,
        "spm_id": None,  # vds_spm_id: given when it joins its data centre (free_spm_id)
        "power_management": {"enabled": False, "kdump_detection": True, "automatic_pm_enabled": True},
        "kdump_status": "disabled",
        "kernel_cmdline": "",
        "update_available": False,
        "cpu": {
            "name": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
            "speed": 2100,
            "sockets": 2,
            "cores": 20,
            "threads": 2,
        },
        "os": {"type": "RHEL", "version": "8.7", "release": "1.el8", "description": "CentOS Stream 8"},
        "vdsm_version": "4.50.3.4-1.el8",
        "hardware": {
            "manufacturer": "Lab Computers",
            "product_name": "LC-2U",
            "family": "Server",
            "version": "1.0",
            "serial_number": None,
            "uuid": None,
        },
        "nics": [{"name": "eth0", "speed_mbps": 10000, "network": "ovirtmgmt"}],
        "tags": [],
    },
    "storagedomains": {
        "type": "data",
        "storage": {},
        "datacenter": None,
        "status": "active",
        "master": False,
        "size_gb": 1024,
        "comment": "",
        "description": "",
    },
    "vms": {
        "cluster": None,
        "host": None,
        "status": "up",
        "memory_mb": 2048,
        "placement": "migratable",
        "placement_hosts": None,
        "origin": "ovirt",
        "migrating_to": None,
        "comment": "",
        "description": "",
        "nics": [{"name": "nic1", "network": "ovirtmgmt"}],
        "tags": [],
        "fqdn": None,
        "address": None,
    },
    "disks": {
        "vm": None,
        "storage_domain": None,
        "size_gb": 20,
        "used_gb": 5,
        "bootable": True,
        "interface": "virtio_scsi",
        "format": "cow",
        "sparse": True,
        "description": "",
    },
    "tags": {"description": "", "parent": None},
}
ROOT_TAG_ID = "00000000-0000-0000-0000-000000000000"  # tags.tag_id of the root tag (BackendApiResource)


HOSTED_ENGINE_ORIGINS = ("hosted_engine", "managed_hosted_engine")  # VM.isHostedEngine()


def non_migratable(vm):
    """MaintenanceNumberOfVdssCommand.validate() for the REST deactivate (isInternal false): a running VM pinned to its
    host (placement_policy affinity `pinned`, MigrationSupport.PINNED_TO_HOST) cannot migrate; a `user_migratable`
    one (IMPLICITLY_NON_MIGRATABLE) only blocks internal maintenance; the HostedEngine VM is never listed."""
    return vm["placement"] == "pinned" and vm.get("origin") not in HOSTED_ENGINE_ORIGINS


def entity_id(kind, name):
    """Stable ids: the same model always gives the same UUIDs."""
    return str(uuid.uuid5(_NAMESPACE, "%s/%s" % (kind, name)))


def _he(spec):
    spec = spec if isinstance(spec, dict) else {"configured": bool(spec)}
    return {
        "configured": bool(spec.get("configured", False)),
        "active": bool(spec.get("active", False)),
        "score": int(spec.get("score", 0)),
        "global_maintenance": bool(spec.get("global_maintenance", False)),
        "local_maintenance": bool(spec.get("local_maintenance", False)),
    }


def _build(kind, item, fields):
    entity = {"id": item.get("id") or entity_id(kind, item["name"]), "name": item["name"]}
    entity.update({key: item.get(key, default) for key, default in fields.items()})
    return entity


def _resolve(state, kind, name):
    """Turn a model name reference into an id (None stays None)."""
    if name is None:
        return None
    for entity in state[kind].values():
        if entity["name"] == name:
            return entity["id"]
    raise ValueError("model refers to unknown %s %r" % (kind, name))


def build_state(model):
    """Turn the YAML model into the persisted state (entities keyed by kind and id)."""
    engine = model.get("engine", {})
    state = {
        "engine": {
            "fqdn": engine.get("fqdn", "engine.lab.example"),
            "version": str(engine.get("version", "4.5.6")),
            "admin_user": engine.get("admin_user", "admin@internal"),
            "admin_password": engine.get("admin_password", "password"),
            "config": dict(engine.get("config") or {}),  # engine-config values over fencing.CONFIG's defaults
        },
        "events": [],
    }
    state.update({kind: {} for kind in KINDS})
    model_keys = {"storagedomains": "storage_domains"}
    for kind in KINDS:
        for item in model.get(model_keys.get(kind, kind), []) or []:
            entity = _build(kind, item, copy.deepcopy(SPECS[kind]))
            if kind == "hosts":
                entity["address"] = entity["address"] or item["name"]
                entity["he"] = _he(item.get("hosted_engine", False))
            state[kind][entity["id"]] = entity
    _link_references(state)
    up = [h for h in sorted(state["hosts"].values(), key=lambda h: h["name"]) if h["status"] == "up"]
    # HostMonitoring's first look at each running host when the engine starts (VDS_DETECTED)
    state["audit"] = [
        dict(audit.entry("VDS_DETECTED", i + 1, time.time(), VdsName=h["name"], HostStatus="Up"), host=h["id"])
        for i, h in enumerate(up)
    ]
    return fill_defaults(state)


def free_spm_id(state, cluster_id):
    """vds_spm_id_map: a host joining a data centre takes the lowest id no host of it holds (AddVdsSpmIdCommand);
    the hosted-engine HA agent's host_id is that id (HostedEngineHelper, 02_engine_vm_configuration.yml)."""
    datacenter = state["clusters"][cluster_id]["datacenter"] if cluster_id else None
    used = {
        h["spm_id"]
        for h in state["hosts"].values()
        if h.get("spm_id") and h["cluster"] and state["clusters"][h["cluster"]]["datacenter"] == datacenter
    }
    return next(i for i in range(1, len(used) + 2) if i not in used)


def engine_user(engine):
    """The users row of the admin the Engine was set up with (user@domain, the domain being the authz profile)."""
    name, _, domain = engine["admin_user"].partition("@")
    return {
        "id": entity_id("users", engine["admin_user"]),
        "name": name,
        "user_name": "%s@%s-authz" % (name, domain or "internal"),
        "domain": "%s-authz" % (domain or "internal"),
        "principal": name,
        "namespace": "*",
    }


def fill_defaults(state):
    """A state written by an older lab gets what this one keeps (new kinds, new fields) with their defaults."""
    for kind in KINDS:
        for entity in state.setdefault(kind, {}).values():
            for key, default in SPECS[kind].items():
                entity.setdefault(key, copy.deepcopy(default))
    for net in state["networks"].values():
        if net["vnic_profiles"] is None:
            net["vnic_profiles"] = [net["name"]] if "vm" in net["usages"] else []
    for host in state["hosts"].values():
        if host["spm_id"] is None:
            host["spm_id"] = free_spm_id(state, host["cluster"])
    user = engine_user(state["engine"])
    state.setdefault("users", {user["id"]: user})
    state.setdefault("jobs", {})
    state.setdefault("audit", [])
    return state


def _attachment(item):
    """A network's attachment to a cluster (the engine's network_cluster row): a cluster name, or {name, required,
    status}. `required` defaults to true as NetworkCluster() does (ovirt-engine common/businessentities/network/
    NetworkCluster.java); `status` to operational, what NetworkClusterHelper sets once every Up host of the
    cluster has the network."""
    spec = item if isinstance(item, dict) else {"name": item}
    return spec["name"], {"required": bool(spec.get("required", True)), "status": spec.get("status", "operational")}


def attachment(network, cluster_id):
    """How a network is attached to a cluster; a state written before attachments were kept has the defaults."""
    return (network.get("attachments") or {}).get(cluster_id) or {"required": True, "status": "operational"}


def _link_references(state):
    for cluster in state["clusters"].values():
        cluster["datacenter"] = _resolve(state, "datacenters", cluster["datacenter"])
    for network in state["networks"].values():
        network["datacenter"] = _resolve(state, "datacenters", network["datacenter"])
        attachments = [_attachment(c) for c in network["clusters"]]
        network["clusters"] = [_resolve(state, "clusters", name) for name, _ in attachments]
        network["attachments"] = {cluster: spec for cluster, (_, spec) in zip(network["clusters"], attachments)}
    for host in state["hosts"].values():
        host["cluster"] = _resolve(state, "clusters", host["cluster"])
    for domain in state["storagedomains"].values():
        domain["datacenter"] = _resolve(state, "datacenters", domain["datacenter"])
    for vm in state["vms"].values():
        if vm["placement_hosts"] is None:  # a pinned VM is pinned to the host it runs on unless the model says
            vm["placement_hosts"] = [vm["host"]] if vm["placement"] == "pinned" and vm["host"] else []
        vm["placement_hosts"] = [_resolve(state, "hosts", h) for h in vm["placement_hosts"]]
        vm["host"] = _resolve(state, "hosts", vm["host"])
        default_cluster = state["hosts"][vm["host"]]["cluster"] if vm["host"] else None
        vm["cluster"] = _resolve(state, "clusters", vm["cluster"]) or default_cluster
    for disk in state["disks"].values():
        disk["vm"] = _resolve(state, "vms", disk["vm"])
        disk["storage_domain"] = _resolve(state, "storagedomains", disk["storage_domain"])
    for tag in state["tags"].values():
        tag["parent"] = _resolve(state, "tags", tag["parent"]) or ROOT_TAG_ID
    for entity in list(state["hosts"].values()) + list(state["vms"].values()):
        entity["tags"] = [_resolve(state, "tags", t) for t in entity["tags"]]


def search_fields(state, kind, entity):
    """The columns the search backend compares for an entity (its ConditionFieldAutoCompleter's fields):
    references by name, events by `type` (the code) and the names of what they are about."""
    fields = {k: v for k, v in entity.items() if isinstance(v, (str, int)) and not isinstance(v, bool)}
    for field, ref_kind in (
        ("cluster", "clusters"),
        ("host", "hosts"),
        ("datacenter", "datacenters"),
        ("vm", "vms"),
        ("storage_domain", "storagedomains"),
    ):
        ref = state[ref_kind].get(entity.get(field) or "")
        if ref is not None:
            fields[field] = fields[field + ".name"] = ref["name"]
    cluster = state["clusters"].get(entity.get("cluster") or "") if kind in ("hosts", "vms") else None
    datacenter = cluster and state["datacenters"].get(cluster.get("datacenter") or "")
    if datacenter:  # VdsConditionFieldAutoCompleter / VmConditionFieldAutoCompleter DATACENTER: storage_pool_name
        fields["datacenter"] = datacenter["name"]
    if kind == "events":
        fields["type"] = str(entity.get("code", ""))
    if kind == "disks":
        fields["alias"] = entity["name"]
    if kind == "users":
        fields["usrname"] = entity["user_name"]
    return fields


class Site:
    """Thread-safe site state with engine-like rules for the actions the migration uses."""

    def __init__(self, state_dir, model, delays=None, clock=time.time, monitor=None):
        self.path = os.path.join(state_dir, "state.json")
        self.delays = dict(DEFAULT_DELAYS, **(delays or {}))
        self.clock = clock
        # monitor(host) -> the host's haStats (NO_HA_STATS' keys), as VDSM's getStats gives them, or None
        # when nothing answers for that host; the engine asks only hosts it monitors.
        self.monitor = monitor
        self.started_at = None  # when the Engine last started (Backend.initialize): set by the API as it answers
        self.recovered_for = None  # the start after which fencing.recover ran
        self.lock = threading.RLock()
        self.request = None  # {'user', 'correlation_id'} of the REST call being served, for what it logs
        self.logged_in = set()  # ids of users holding a session (tokens are in memory only)
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.state = fill_defaults(json.load(f))
        else:
            self.state = build_state(model)
            self.save()

    @property
    def engine(self):
        return self.state["engine"]

    def save(self):
        """Persist atomically after every change so a restart gives the same site."""
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def tick(self):
        """Apply every scheduled transition that is due."""
        now, events = self.clock(), self.state["events"]
        due = [e for e in events if e["at"] <= now]
        if not due:
            return
        self.state["events"] = [e for e in events if e["at"] > now]
        serving = self.request
        try:
            for event in due:
                entity = self.state[event["kind"]].get(event["id"])
                self.request = event.get("request")
                if entity is not None:
                    self._apply(event["kind"], entity, event["set"], audit=event.get("log") is None)
                    for entry in event.get("log") or ():  # a key, or [key, the values its message takes]
                        key, values = (entry, {}) if isinstance(entry, str) else entry
                        self.log(key, host=entity if event["kind"] == "hosts" else None, **values)
        finally:
            self.request = serving
        self.save()

    def refresh(self):
        """What the engine knows when it answers a request: transitions applied, monitored hosts read."""
        self.tick()
        if self._monitor():
            self.save()

    def _monitor(self):
        """HostMonitoring: `hosted_engine` of a monitored host is what its VDSM's haStats say right now, and a host
        whose VDSM does not answer goes the way of lab/engine_api/fencing.py; an unmonitored host (maintenance,
        installing, reboot...), or one no lab machine stands for, keeps what was last seen. True if any changed."""
        changed = False
        for host in self.state["hosts"].values():
            stats = self.monitor(host) if self.monitor and host["status"] not in UNMONITORED else None
            if stats == fencing.NOT_ANSWERING:
                changed |= fencing.not_answering(self, host, self.clock())
                continue
            if stats is None:
                continue
            changed |= fencing.answering(self, host)
            if stats != host["he"]:
                host["he"] = dict(stats)
                changed = True
        return fencing.recover(self, self.clock()) or changed

    def fence_restart(self, host):
        """The power agent, run by a proxy host, restarts the host's machine (the lab's host does it)."""
        self._call_host(host, "fence-restart")

    def schedule_reboot_end(self, host):
        """RestartVdsCommand's StartVds: Reboot until the host is back, then Non Responsive until monitoring
        finds it answering."""
        self._schedule(self.delays["reboot"], "hosts", host["id"], status="non_responsive")

    def host_calls(self):
        """Takes what the engine asked of hosts (host-deploy, VDSM verbs) that is due; the lab's hosts do it."""
        now, calls = self.clock(), self.state.get("host_calls") or []
        due = [c for c in calls if c["at"] <= now]
        if due:
            self.state["host_calls"] = [c for c in calls if c["at"] > now]
            self.save()
        return due

    def _call_host(self, host, call, delay=0.0, **args):
        self.state.setdefault("host_calls", []).append(
            {
                "at": self.clock() + delay,
                "host": host["id"],
                "name": host["name"],
                "address": host["address"],
                "call": call,
                **args,
            }
        )

    def _apply(self, kind, entity, changes, audit=True):
        logged = audit and kind == "hosts" and changes.get("status", entity.get("status")) != entity.get("status")
        if kind == "hosts" and changes.get("status") == "up" and entity["he"]["configured"]:
            # InitVdsOnUpCommand: a hosted-engine host leaves HA local maintenance when it comes up
            self._call_host(entity, "setHaMaintenanceMode", local=False)
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(entity.get(key), dict):
                entity[key].update(value)
            else:
                entity[key] = value
        if logged:  # after the change: the entry reads what the command set (status_detail: FailedInstallMessage)
            self._audit(entity, changes["status"])

    def _audit(self, host, status):
        """The engine's audit log (API `events`): one entry per host status change."""
        key = audit.HOST_STATUS.get(status)
        if key is not None:
            self.log(
                key,
                host=host,
                HostStatus=status.replace("_", " ").title(),
                Message="Stage: Initializing",
                FailedInstallMessage=host.get("status_detail") or "",
            )

    def log(self, key, host=None, vm=None, **values):
        """Append an audit entry about a host and/or VM; one written while serving a user's call carries the user
        (AuditLogableBase's user) and the call's correlation id (restapi CurrentFilter)."""
        rows = self.state.setdefault("audit", [])
        user = self.state["users"].get((self.request or {}).get("user"))
        if host is None and vm is not None and vm["host"]:
            host = self.state["hosts"].get(vm["host"])
        names = {
            "VdsName": host["name"] if host else "",
            "VmName": vm["name"] if vm else "",
            "UserName": user["user_name"] if user else "",
        }
        row = audit.entry(key, int(rows[-1]["id"]) + 1 if rows else 1, self.clock(), **dict(names, **values))
        row.update(
            host=host["id"] if host else None,
            vm=vm["id"] if vm else None,
            user=user["id"] if user else None,
            correlation_id=(self.request or {}).get("correlation_id") if user else None,
        )
        rows.append(row)

    def audit_events(self, after=None):
        """The audit log newest first (SearchObjectAutoCompleter: audit_log_id DESC), only ids above `after`
        with `from` (SyntaxChecker: `audit_log_id > from`)."""
        rows = [e for e in self.state.get("audit", []) if after is None or int(e["id"]) > after]
        return sorted(rows, key=lambda e: -int(e["id"]))

    def job(self, key, **names):
        """A finished job for an action the engine ran (ExecutionHandler), described as ExecutionMessages says."""
        now, user = self.clock(), (self.request or {}).get("user")
        ident = entity_id("jobs", "%s/%s" % (len(self.state["jobs"]), now))
        text = re.sub(r"\$\{(\w+)\}", lambda m: names.get(m.group(1), ""), JOB_TEXTS[key])
        self.state["jobs"][ident] = {
            "id": ident,
            "name": text,
            "description": text,
            "status": "finished",
            "start_time": now,
            "end_time": now,
            "last_updated": now,
            "owner": user,
            "auto_cleared": True,
            "external": False,
        }

    def _schedule(self, delay, kind, ident, log=None, in_call=False, **changes):
        """A change the engine makes later. LOG: the audit entries it writes then, instead of the one for its status
        change (HOST_STATUS). IN_CALL: made by a command of the call being served, run later in the thread pool, so
        its entries keep the call's user and correlation id (ThreadPoolUtil, CorrelationIdTracker); the others are
        monitoring's, which has neither."""
        event = {"at": self.clock() + delay, "kind": kind, "id": ident, "set": changes, "log": log}
        self.state["events"].append(dict(event, request=self.request if in_call else None))
        self.state["events"].sort(key=lambda e: e["at"])

    def _cancel(self, kind, ident):
        self.state["events"] = [e for e in self.state["events"] if (e["kind"], e["id"]) != (kind, ident)]

    def list(self, kind, search=None, **filters):
        entities = [e for e in self.state[kind].values() if all(e.get(k) == v for k, v in filters.items())]
        return sorted(self.search(kind, entities, search), key=lambda e: e["name"])

    def search(self, kind, entities, text, case_sensitive=False):
        if not text:
            return entities
        query = Query(text, case_sensitive)
        rows = [search_fields(self.state, kind, e) for e in entities]
        known = set().union(*rows) if rows else query.fields
        unknown = sorted(query.fields - known) + query.unsupported
        if unknown:  # never an empty answer to a search the lab cannot evaluate
            raise ActionFailed(
                400,
                "Bad Request",
                f"not modelled by the lab: searching {kind} by {', '.join(unknown)} "
                f"(it compares {', '.join(sorted(known))} with = and !=)",
            )
        return [e for e, fields in zip(entities, rows, strict=True) if query.match(fields)]

    def get(self, kind, ident):
        entity = self.state[kind].get(ident)
        if entity is None:
            raise NotFound(ident)
        return entity

    # -- placement helpers -------------------------------------------------

    def running_vms(self, host_id):
        return [
            vm
            for vm in self.state["vms"].values()
            if vm["host"] == host_id and vm["status"] not in ("down", "suspended")
        ]

    def free_mb(self, host):
        used = sum(
            vm["memory_mb"]
            for vm in self.state["vms"].values()
            if vm["status"] not in ("down", "suspended") and host["id"] in (vm["host"], vm["migrating_to"])
        )
        return host["memory_mb"] - used

    def _up_hosts(self, cluster_id, exclude):
        return [h for h in self.list("hosts", cluster=cluster_id) if h["status"] == "up" and h["id"] != exclude]

    def _pick_target(self, vm, exclude):
        """The up host in the VM's cluster with the most free memory that fits the VM, like the scheduler; the
        HostedEngine VM only to a hosted-engine host with a positive HA score above the current host's less 800
        (scheduling HostedEngineHAClusterFilterPolicyUnit, MIGRATION_THRESHOLD_SCORE; 0 in global maintenance)."""
        fits = [h for h in self._up_hosts(vm["cluster"], exclude) if self.free_mb(h) >= vm["memory_mb"]]
        if vm.get("origin") in HOSTED_ENGINE_ORIGINS:
            fits = [
                h for h in fits if h["he"].get("configured") and (h["he"].get("score") or 0) > self._min_he_score(vm)
            ]
        return max(fits, key=self.free_mb) if fits else None

    def _min_he_score(self, vm):
        current = self.state["hosts"].get(vm["host"]) if vm["host"] else None
        if current is None or current["he"].get("global_maintenance"):
            return 0
        return max((current["he"].get("score") or 0) - 800, 0)

    def _start_migration(self, vm, target):
        vm.update(status="migrating", migrating_to=target["id"])
        self._schedule(self.delays["migration"], "vms", vm["id"], host=target["id"], status="up", migrating_to=None)

    # -- host actions ------------------------------------------------------

    def deactivate_host(self, host_id):
        """Move to maintenance, migrating VMs away: the REST deactivate, MaintenanceNumberOfVdssCommand with
        isInternal false (BackendHostResource.deactivate). A refused validate() changes nothing."""
        host = self.get("hosts", host_id)
        self._refuse_locked(host, "maintenance")
        if host["status"] != "maintenance" and host["status"] not in MAINTENANCE_FROM:
            raise refused("VDS_CANNOT_MAINTENANCE_VDS_IS_NOT_OPERATIONAL", MAINTENANCE_VARIABLES)
        vms = self.running_vms(host_id)
        pinned = sorted(vm["name"] for vm in vms if non_migratable(vm))  # upstream: the database's order
        if pinned:  # handleNonMigratableVms: both lists joined with " , "
            raise refused(
                "VDS_CANNOT_MAINTENANCE_IT_INCLUDES_NON_MIGRATABLE_VM",
                MAINTENANCE_VARIABLES,
                HostsList=host["name"],
                VmsList=" , ".join(pinned),
            )
        if host["status"] == "maintenance":
            raise refused("VDS_CANNOT_MAINTENANCE_VDS_IS_IN_MAINTENANCE", MAINTENANCE_VARIABLES)
        if vms and not self._up_hosts(host["cluster"], host_id):  # checkIfThereIsVDSToHoldMigratedVMs
            raise refused(
                "CANNOT_MAINTENANCE_VDS_RUN_VMS_NO_OTHER_RUNNING_VDS",
                MAINTENANCE_VARIABLES,
                HostsList=host["name"],
                ClustersList=self.state["clusters"][host["cluster"]]["name"],
            )
        self.job("MaintenanceNumberOfVdss", VDS=host["name"])
        if host["he"]["configured"]:  # MaintenanceVdsCommand: HA local maintenance first
            self._call_host(host, "setHaMaintenanceMode", local=True)
        self._apply("hosts", host, {"status": "preparing_for_maintenance", "status_detail": None})
        stuck = self._evacuate(host, vms)
        if stuck:
            host["status_detail"] = (
                "Failed to migrate VMs %s: no other host in the cluster has enough free memory" % ", ".join(stuck)
            )
        else:
            delay = self.delays["migration"] if vms else self.delays["maintenance"]
            self._schedule(delay, "hosts", host_id, status="maintenance", status_detail=None)
        self.save()

    def _evacuate(self, host, vms):
        """Start migrations for the host's VMs; returns the names of VMs that found no target."""
        stuck = []
        for vm in vms:
            if vm["status"] == "migrating":
                continue
            target = self._pick_target(vm, exclude=host["id"])
            if target is None:
                stuck.append(vm["name"])
            else:
                self._start_migration(vm, target)
        return stuck

    def activate_host(self, host_id):
        host = self.get("hosts", host_id)
        self._refuse_locked(host, "activate")
        if host["status"] not in ACTIVATE_FROM:
            raise conflict("Cannot activate Host. Host is in %s status." % host["status"])
        self.job("ActivateVds", VDS=host["name"])
        self._cancel("hosts", host_id)
        if host["status"] == "preparing_for_maintenance":
            self._apply("hosts", host, {"status": "up", "status_detail": None})
        else:
            self._apply("hosts", host, {"status": "initializing", "status_detail": None})
            self._schedule(self.delays["initializing"], "hosts", host_id, status="up")
        self.save()

    def install_host(
        self,
        host_id,
        root_password=None,
        ssh_publickey=False,
        deploy_he=False,
        undeploy_he=False,
        activate=False,
        reboot=True,
    ):
        """Reinstall (host-deploy), optionally deploying/undeploying the hosted-engine components.
        The defaults are BackendHostResource.install's: reboot, and leave the host in maintenance."""
        host = self.get("hosts", host_id)
        self._refuse_locked(host, "install")
        if not root_password and not ssh_publickey:
            raise ActionFailed(400, "Incomplete parameters", "Action [rootPassword|ssh] required for install")
        if deploy_he and undeploy_he:
            raise ActionFailed(
                400, "Operation Failed", "deploy_hosted_engine and undeploy_hosted_engine are mutually exclusive"
            )
        if host["status"] not in INSTALL_FROM:
            raise conflict(
                "Cannot install Host. Host must be in Maintenance, Non Operational, Install Failed "
                "or Down status (it is %s)." % host["status"]
            )
        self._refuse_hosted_engine_in_another_dc(host, deploy_he)
        self.job("InstallVdsInternal", VDS=host["name"])
        self._cancel("hosts", host_id)
        self.log("USER_UPDATE_VDS", host=host)  # UpdateVds ends in the call's thread
        host["locked"] = True  # InstallVdsInternal's VDS lock, taken by its validation in the call's thread
        start = self.delays["install_start"]
        self._schedule(start, "hosts", host_id, log=["VDS_ANSIBLE_INSTALL_STARTED"], in_call=True, status="installing")
        if root_password and host["root_password"] and root_password != host["root_password"]:
            detail = "SSH authentication to %s failed" % host["address"]
            self._schedule(
                start + self.delays["install"], "hosts", host_id, **self._install_end("install_failed", detail)
            )
        else:
            self._schedule_install_steps(host, start, deploy_he, undeploy_he, activate, reboot)
        self.save()

    @staticmethod
    def _install_end(status, detail=None):
        """InstallVdsInternalCommand's end: the status it sets (setVdsStatus, which logs nothing itself), its own audit
        entry (VDS_INSTALL; VDS_INSTALL_FAILED from the status change) and the lock released."""
        end = {"status": status, "status_detail": detail, "locked": False}
        return dict(end, log=None if detail else ["VDS_INSTALL"], in_call=True)

    def _refuse_locked(self, host, action):
        """The VDS lock of an install in progress (ACTION_TYPE_FAILED_OBJECT_LOCKED)."""
        if host.get("locked"):
            raise refused("ACTION_TYPE_FAILED_OBJECT_LOCKED", {"action": action, "type": "Host"})

    def _refuse_hosted_engine_in_another_dc(self, host, deploy_he):
        """HostValidator.supportsDeployingHostedEngine: deploying hosted-engine (or reinstalling a host that has
        it) needs an Engine VM, and the host in the Engine VM's data centre (409 otherwise)."""
        if not (deploy_he or host["he"]["configured"]):
            return
        vm = next((v for v in self.state["vms"].values() if v.get("origin") == "managed_hosted_engine"), None)
        if vm is None:
            if deploy_he:
                raise conflict(
                    "Cannot edit Host. You are using an unmanaged hosted engine VM. Please add the first "
                    "storage domain in order to start the hosted engine import process."
                )
            return
        datacenter = self.state["clusters"][vm["cluster"]]["datacenter"]
        if self.state["clusters"][host["cluster"]]["datacenter"] != datacenter:
            raise conflict(
                "Cannot edit Host. You are using host from data center other than hosted engine VM runs "
                "on. In order to start the hosted engine import process, please select host from the same "
                "data center or move the host there first."
            )

    def _schedule_install_steps(self, host, start, deploy_he, undeploy_he, activate, reboot):
        """host-deploy runs on the host while it is installing (its playbook's end: VDS_ANSIBLE_INSTALL_FINISHED);
        `hosted_engine` changes only when monitoring sees the host again (after activation), never as part of the
        install itself."""
        final = self._install_end("initializing" if activate else "maintenance")
        delay = start + self.delays["install"]
        action = "deploy" if deploy_he else "undeploy" if undeploy_he else None
        self._call_host(host, "host-deploy", delay, hosted_engine=action, reboot=reboot, spm_id=host["spm_id"])
        if reboot:
            self._schedule(
                delay, "hosts", host["id"], log=["VDS_ANSIBLE_INSTALL_FINISHED"], in_call=True, status="reboot"
            )
            delay += self.delays["reboot"]
            self._schedule(delay, "hosts", host["id"], **final)
        else:
            self._schedule(
                delay, "hosts", host["id"], **dict(final, log=["VDS_ANSIBLE_INSTALL_FINISHED", *final["log"]])
            )
        if activate:
            self._schedule(delay + self.delays["initializing"], "hosts", host["id"], status="up")

    # -- vm actions --------------------------------------------------------

    def migrate_vm(self, vm_id, target_id=None, force=False):
        """REST vms/<id>/migrate (MigrateVm, or MigrateVmToServer with a host; `force` is the action's, default
        false): VmValidator.canMigrate's checks first, in its order."""
        vm = self.get("vms", vm_id)
        if vm["placement"] == "pinned":
            raise refused("ACTION_TYPE_FAILED_VM_IS_PINNED_TO_HOST", MIGRATE_VARIABLES)
        if vm["placement"] == "user_migratable" and not force:
            raise refused(
                "ACTION_TYPE_FAILED_VM_IS_NON_MIGRTABLE_AND_IS_NOT_FORCED_BY_USER_TO_MIGRATE", MIGRATE_VARIABLES
            )
        if vm["status"] == "migrating":
            raise refused("ACTION_TYPE_FAILED_MIGRATION_IN_PROGRESS", MIGRATE_VARIABLES)
        if vm["status"] != "up":
            raise refused("ACTION_TYPE_FAILED_VM_IS_NOT_RUNNING", MIGRATE_VARIABLES)
        target = self._pick_target(vm, exclude=vm["host"]) if target_id is None else self.get("hosts", target_id)
        if (
            target is None
            or target["id"] == vm["host"]
            or target["status"] != "up"
            or target["cluster"] != vm["cluster"]
            or self.free_mb(target) < vm["memory_mb"]
        ):
            raise conflict("Cannot migrate VM. There is no host that satisfies current scheduling constraints.")
        if target_id is None:
            self.job("MigrateVm", VM=vm["name"])
        else:
            self.job("MigrateVmToServer", VM=vm["name"], VDS=target["name"])
        self._start_migration(vm, target)
        self.save()

    def start_vm(self, vm_id):
        """REST vms/<id>/start (RunVmCommand): a VM that is down starts on the Up host of its cluster with the
        most free memory, powering_up until it is up."""
        vm = self.get("vms", vm_id)
        if vm["status"] not in ("down", "suspended"):
            raise refused("ACTION_TYPE_FAILED_VM_IS_RUNNING", RUN_VARIABLES)
        target = self._pick_target(vm, exclude=None)
        if target is None:
            raise refused("ACTION_TYPE_FAILED_NO_VDS_AVAILABLE_IN_CLUSTER", RUN_VARIABLES)
        self.job("RunVm", VM=vm["name"])
        vm.update(status="powering_up", host=target["id"])
        self.log("USER_STARTED_VM", vm=vm)
        self._schedule(self.delays["initializing"], "vms", vm_id, status="up")
        self.save()

    def stop_vm(self, vm_id):
        """REST vms/<id>/stop (StopVmCommand): powered off at once."""
        vm = self.get("vms", vm_id)
        if vm["status"] in ("down", "suspended"):
            raise refused("ACTION_TYPE_FAILED_VM_IS_NOT_RUNNING", STOP_VARIABLES)
        if vm.get("origin") in HOSTED_ENGINE_ORIGINS:  # the HA agents own the Engine VM
            raise refused("ACTION_TYPE_FAILED_CANNOT_RUN_ACTION_ON_NON_MANAGED_VM", STOP_VARIABLES)
        self.job("StopVm", VM=vm["name"])
        self.log("USER_STOP_VM", vm=vm)
        self._cancel("vms", vm_id)
        vm.update(status="down", host=None, migrating_to=None)
        self.save()

    def upgrade_check(self, host_id):
        """REST hosts/<id>/upgradecheck (HostUpgradeCheckCommand + HostUpdatesChecker): from up, maintenance or
        non_operational the check runs and reports in the audit log; the lab's hosts have no updates."""
        host = self.get("hosts", host_id)
        if host["status"] not in ("up", "maintenance", "non_operational"):
            self.log("HOST_AVAILABLE_UPDATES_SKIPPED_UNSUPPORTED_STATUS", host=host)
        else:
            self.log("HOST_AVAILABLE_UPDATES_STARTED", host=host)
            finished = [["HOST_AVAILABLE_UPDATES_FINISHED", {"Message": "no updates found."}]]
            self._schedule(
                self.delays["upgrade_check"], "hosts", host_id, log=finished, in_call=True, update_available=False
            )
        self.save()

    def update(self, kind, ident, changes):
        """PUT on a host or VM: the fields the lab keeps change (the API refuses a change to any other);
        USER_UPDATE_VDS / USER_UPDATE_VM is logged."""
        entity = self.get(kind, ident)
        allowed = HOST_UPDATABLE if kind == "hosts" else VM_UPDATABLE
        self._apply(kind, entity, {k: v for k, v in changes.items() if k in allowed and v is not None})
        if kind == "hosts":
            self.job("UpdateVds", VDS=entity["name"])
            self.log("USER_UPDATE_VDS", host=entity)
        else:
            self.job("UpdateVm", VM=entity["name"])
            self.log("USER_UPDATE_VM", vm=entity)
        self.save()
        return entity

    def domain_space(self, domain):
        """available/used/committed of a storage domain in bytes (StorageDomainMapper, from its dynamic data): the
        disks on it use their used size, commit their provisioned size."""
        disks = [d for d in self.state["disks"].values() if d["storage_domain"] == domain["id"]]
        used = sum(d["used_gb"] for d in disks) * GIB
        return {
            "available": domain["size_gb"] * GIB - used,
            "used": used,
            "committed": sum(d["size_gb"] for d in disks) * GIB,
        }

    def sessions(self):
        """Users with an engine session now: whoever holds an SSO token (the server's)."""
        return set(self.logged_in)

    def request_user(self):
        return (self.request or {}).get("user")

    def spm_host(self, datacenter_id):
        return spm_of(self.state, datacenter_id)
