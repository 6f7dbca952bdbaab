"""HighAvailabilityDrill: after the last node, the Engine VM is made to move once, to prove that another node
takes it (the procedure's "check the status of the new environment").

The host that runs the VM goes to maintenance through the new Engine, as an administrator does it from the
Administration Portal: `hosted-engine --set-maintenance --mode=local` is refused on the host running the Engine
VM ("please migrate it before entering local maintenance mode", ovirt-hosted-engine-setup
`set_maintenance.py`). The Engine sets HA local maintenance on the host first, then live-migrates the VM to a
hosted-engine host with a positive score (ovirt-engine `MaintenanceVdsCommand`,
`HostedEngineHAClusterFilterPolicyUnit`). The drill passes once `hosted-engine --vm-status` shows the VM up
with good health on another node; the host is then activated again and must be back with a positive score.
Only one host is ever out: a drill that finds a node already in maintenance (a killed run's) brings it back
first.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

import ovirtsdk4
import ovirtsdk4.types as types
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from providers import base, engine_api, host_facts, records
from providers.errors import StepError
from providers.timing import TIMING_OUTPUTS, now, timed

OUT = {types.HostStatus.MAINTENANCE, types.HostStatus.PREPARING_FOR_MAINTENANCE}
MOVING = {types.HostStatus.PREPARING_FOR_MAINTENANCE, types.HostStatus.INITIALIZING}
HE_VM = "HostedEngine"
RESULT = ("fromNode", "toNode", "seconds")


class _Drill:
    """One run of the drill over the new Engine's API and a node's vm-status."""

    def __init__(self, props: dict):
        self.props, self.poll, self.timeout = props, base.poll_interval(props), props["timeout"]
        self.api, self.node = base.api(props), base.ssh_host(props)

    def hosts(self) -> list[types.Host]:
        return self.api.system_service().hosts_service().list(all_content=True)

    def host(self, host_id: str) -> types.Host:
        return self.api.system_service().hosts_service().host_service(host_id).get(all_content=True)

    def engine_vm(self) -> types.Vm:
        found = self.api.system_service().vms_service().list(search=f"name={HE_VM}")
        if not found:
            raise StepError(
                urlparse(self.props["engine"]["url"]).hostname,
                f"the new Engine has no {HE_VM} VM: the deployment did not finish",
                "Run `pulumi up` again.",
            )
        return found[0]

    def vm_status(self, read):
        """READ (a host_facts parser) of the node's `hosted-engine --vm-status --json`; None while it cannot say."""
        result = self.node.run(*host_facts.VM_STATUS, check=False)
        try:
            return read(result.stdout) if result.exit_status == 0 else None
        except (ValueError, AttributeError):
            return None

    def wait(self, fetch, done, what: str):
        return engine_api.wait_for(fetch, done, what, self.timeout, self.poll)

    def back_in_service(self, host: types.Host) -> None:
        """Activates a node left out (by this drill, or a killed one) and waits for a positive score."""
        host = self.wait(lambda: self.host(host.id), lambda h: h.status not in MOVING, f"{host.name} to settle")
        if host.status != types.HostStatus.UP:
            engine_api.host_service(self.api, host).activate()
        self.wait(
            lambda: self.host(host.id),
            lambda h: h.status == types.HostStatus.UP and h.hosted_engine and (h.hosted_engine.score or 0) > 0,
            f"{host.name} to be up with a positive HA score",
        )
        names = {host.name, host.address}
        self.wait(
            lambda: self.vm_status(lambda text: host_facts.vm_status_score(text, names)),
            lambda s: s is not None and s > 0,
            f"`hosted-engine --vm-status` to show {host.name} with a positive score",
        )

    def run(self) -> dict:
        for host in self.hosts():  # never two nodes out: finish what a killed drill left first
            if host.status in OUT and host.hosted_engine and host.hosted_engine.configured:
                pulumi.log.info(f"{host.name} is in maintenance (a drill that did not finish): activating it first")
                self.back_in_service(host)
        vm = self.engine_vm()
        source = self.host(vm.host.id)
        candidates = [
            h
            for h in self.hosts()
            if h.id != source.id
            and h.status == types.HostStatus.UP
            and h.hosted_engine
            and h.hosted_engine.configured
            and (h.hosted_engine.score or 0) > 0
        ]
        if not candidates:
            raise StepError(
                source.name,
                "no other hosted-engine node is up with a positive score to take the Engine VM from it",
                "Nothing changed: convert another host (`hostedEngineNodes`), or set `haDrill.enabled: false`.",
            )
        started = time.monotonic()
        try:
            engine_api.host_service(self.api, source).deactivate()
        except ovirtsdk4.Error as err:
            if err.code != 409:
                raise
            raise StepError(
                source.name,
                f"the Engine refused to put {source.name} in maintenance for the drill ({err})",
                "Nothing changed: do what the Engine asks, or set `haDrill.enabled: false`.",
            ) from None
        names = {source.name, source.address}
        taken = self.wait(
            lambda: self.vm_status(host_facts.engine_vm_host),
            lambda h: h is not None and h not in names,
            f"another node to run the Engine VM with good health after {source.name} went to maintenance",
        )
        seconds = round(time.monotonic() - started, 1)
        self.back_in_service(source)
        target = next((h.name for h in self.hosts() if taken in (h.name, h.address)), taken)
        return {"fromNode": source.name, "toNode": target, "seconds": seconds}


class HighAvailabilityDrillProvider(ResourceProvider):
    @timed
    def create(self, props):
        """Once per migration: a drill recorded beside the backup (one the state forgot: a destroy, a state delete)
        is adopted, not run again; a new one is recorded as soon as it passed."""
        server = base.ssh_host(props, "backupServer")
        outputs = {k: v for k, v in records.read(server, props["record"]).items() if k in RESULT}
        if outputs.keys() == set(RESULT):
            pulumi.log.info(f"the HA drill already ran ({props['record']} on {props['backupServer']['name']}): kept")
        else:
            outputs = _Drill(props).run()
            records.write(server, props["record"], {**outputs, "ranAt": now()})
        return CreateResult(f"{props['engine']['url']}#ha-drill", {**props, **outputs})

    def diff(self, _id, olds, news):
        """The drill ran once; changed settings do not make it run again (nor does a destroy and an `up`: its
        record stays)."""
        return DiffResult(changes=False)

    def read(self, id_, props):
        return ReadResult(id_, props)

    def delete(self, _id, props):
        """Nothing to undo: the drill leaves every node in service."""


class HighAvailabilityDrill(Resource, module="ovirt", name="HighAvailabilityDrill"):
    """The Engine VM moved once to another node; `toNode` (its name in the Engine) took it in `seconds`."""

    fromNode: pulumi.Output[str]
    toNode: pulumi.Output[str]
    seconds: pulumi.Output[float]

    def __init__(
        self,
        name: str,
        *,
        engine: dict,
        admin_password,
        connection: dict,
        backup_server: dict,
        record: str,
        private_key,
        timeout: float,
        poll_interval: float = base.POLL_INTERVAL,
        opts=None,
    ):
        props = {
            "engine": engine,
            "adminPassword": admin_password,
            "connection": connection,
            "backupServer": backup_server,
            "record": record,
            "privateKey": private_key,
            "timeout": timeout,
            "pollInterval": poll_interval,
            "fromNode": None,
            "toNode": None,
            "seconds": None,
            **TIMING_OUTPUTS,
        }
        super().__init__(
            HighAvailabilityDrillProvider(), name, props, base.options(opts, ["adminPassword", "privateKey"])
        )
