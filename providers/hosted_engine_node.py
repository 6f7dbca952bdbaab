"""HostedEngineNode: an existing host reinstalled as a self-hosted engine node (procedure 8).

Through the new Engine's API, as the Administration Portal (and the Ansible `ovirt_host` module's
`state=reinstalled`) do it: the host goes to maintenance, is reinstalled with hosted-engine DEPLOY
(and rebooted, unless `nodeReboot` is false), the install ends with the host back in maintenance (the
Engine logs that end under the install call's correlation id; the status alone can show the maintenance from
before an install that has not started yet),
the host is activated, and once it is Up the Engine's host monitoring reports it configured. Then
`hosted-engine --vm-status` on the host must show it with a positive score. The Engine monitors no
host in maintenance, installing or rebooting, so `configured` is only read once the host is Up.
One host at a time: a conversion refuses to start while another host is in maintenance or being
installed, so the Engine VM never loses two candidate nodes at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import ovirtsdk4
import ovirtsdk4.types as types
import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, Resource, ResourceProvider, UpdateResult

from providers import base, engine_api, host_facts
from providers.errors import StepError
from providers.timing import timed

BUSY = {
    types.HostStatus.MAINTENANCE,
    types.HostStatus.PREPARING_FOR_MAINTENANCE,
    types.HostStatus.INSTALLING,
    types.HostStatus.INITIALIZING,
    types.HostStatus.REBOOT,
}
IN_PROGRESS = {
    types.HostStatus.INSTALLING,
    types.HostStatus.INITIALIZING,
    types.HostStatus.REBOOT,
    types.HostStatus.PREPARING_FOR_MAINTENANCE,
}
INSTALL_ENDED = {types.HostStatus.MAINTENANCE, types.HostStatus.INSTALL_FAILED, types.HostStatus.UP}


def _host(props: dict, all_content: bool = True) -> types.Host:
    host = engine_api.find_host(base.api(props), props["host"], all_content=all_content)
    if host is None:
        raise StepError(
            props["host"],
            f"the Engine at {props['engine']['url']} has no such host",
            "Check `hostedEngineNodes`, then run `pulumi up` again.",
        )
    return host


def _configured(host: types.Host) -> bool:
    return bool(host.hosted_engine and host.hosted_engine.configured)


@dataclass(frozen=True)
class Facts:
    """The host as the Engine shows it once any transition has settled: its status, whether the Engine reports
    hosted-engine configured, whether its own vm-status lists it (`is_node`, read only when not configured),
    and the other hosts out of service, as "name (status)" (read only when a maintenance must start)."""

    name: str
    status: types.HostStatus
    configured: bool
    is_node: bool = False
    others_out: tuple = ()


def plan(facts: Facts, deploy: bool) -> list[str]:
    """The steps that make the host a node (deploy) or no longer one (undeploy): maintenance and the reinstall
    only when it is not yet what is wanted, and one host out of service at a time; a node is activated."""
    done = (facts.configured or facts.is_node) if deploy else not facts.configured
    if done:
        return ["activate"] if deploy else []
    if facts.status == types.HostStatus.MAINTENANCE:
        return ["reinstall", "activate"]
    if facts.others_out:
        raise StepError(
            facts.name,
            f"not converted now: {', '.join(facts.others_out)} is already out of service, and "
            f"hosts are converted one at a time",
            "Activate it (or let its reinstall finish) and run `pulumi up` again.",
        )
    return ["maintenance", "reinstall", "activate"]


def _facts(props: dict, host: types.Host, deploy: bool) -> Facts:
    """Reads what plan() needs in the order it decides, each read only when the answer matters."""
    facts = Facts(host.name, host.status, _configured(host))
    if deploy and not facts.configured:
        facts = dataclasses.replace(facts, is_node=_is_node(props, host))
    if plan(facts, deploy)[:1] == ["maintenance"]:
        hosts = base.api(props).system_service().hosts_service().list()
        busy = tuple(f"{h.name} ({h.status.value})" for h in hosts if h.id != host.id and h.status in BUSY)
        facts = dataclasses.replace(facts, others_out=busy)
    return facts


def _wait_status(props: dict, wanted: set, what: str, timeout: float) -> types.Host:
    return engine_api.wait_for(
        lambda: _host(props, all_content=False),
        lambda h: h.status in wanted or h.status == types.HostStatus.INSTALL_FAILED,
        f"{props['host']} to be {what}",
        timeout,
        base.poll_interval(props),
    )


def _to_maintenance(props: dict, host: types.Host) -> None:
    if host.status == types.HostStatus.MAINTENANCE:
        return
    try:
        engine_api.host_service(base.api(props), host).deactivate()
    except ovirtsdk4.Error as err:
        if err.code != 409:  # 409: the Engine's validation refused it, and changed nothing
            raise
        raise _maintenance_refused(props, host, err) from None
    _wait_status(
        props, {types.HostStatus.MAINTENANCE}, "in maintenance (its VMs migrated away)", props["maintenanceTimeout"]
    )


def _maintenance_refused(props: dict, host: types.Host, err: ovirtsdk4.Error) -> StepError:
    """The error for a refused deactivate: what the Engine said, and for VMs that cannot migrate off the host
    (the Engine's VDS_CANNOT_MAINTENANCE_IT_INCLUDES_NON_MIGRATABLE_VM), which ones and the ways on."""
    detail = err.fault.detail if err.fault is not None and err.fault.detail else str(err)
    said = " ".join(detail.strip().removeprefix("[").removesuffix("]").split())
    stuck = (_pinned_vms(props, host) or engine_api.non_migratable_vms_named(said)) if "non-migratable" in said else []
    node = props.get("connection", {}).get("name") or props["host"]
    # a configured host is being undeployed (delete), any other converted (create, update)
    skip = (
        f"keep {node} in `hostedEngineNodes` (it stays a node)"
        if _configured(host)
        else f"leave {node} out of `hostedEngineNodes`"
    )
    refusal = f'the Engine refused to put {host.name} in maintenance ("{said}")'
    unchanged = f"nothing changed on the site ({host.name} stays {host.status.value})"
    if not stuck:
        return StepError(
            host.name, f"{refusal} and {unchanged}", f"Do what the Engine asks, or {skip}, then run `pulumi up` again."
        )
    return StepError(
        host.name,
        f"{refusal} because it runs VMs that cannot migrate away: {', '.join(stuck)}; {unchanged}",
        f"Unpin them so that maintenance migrates them (Edit Virtual Machine > Host > Migration mode: "
        f'"Allow manual and automatic migration" or "Allow manual migration only"), or shut them down '
        f"while the host is reinstalled, or {skip}, then run `pulumi up` again.",
    )


def _pinned_vms(props: dict, host: types.Host) -> list[str]:
    """The VMs running on the host whose placement policy pins them to it, as the API shows them; [] when the
    Engine does not say (the refusal's own text then names them)."""
    try:
        return engine_api.pinned_vms(base.api(props), host)
    except ovirtsdk4.Error:
        return []


def _reinstall(props: dict, host: types.Host, deploy: bool) -> None:
    """host-deploy with hosted-engine DEPLOY or UNDEPLOY. The Engine runs the install in its thread pool after the
    call has returned (UpdateVdsCommand), so the host can still show the maintenance it was in: the install is over
    when the Engine logs its end under this call's correlation id."""
    service = engine_api.host_service(base.api(props), host)
    ssh = types.Ssh(authentication_method=types.SshAuthenticationMethod.PUBLICKEY)
    action = {"deploy_hosted_engine": True} if deploy else {"undeploy_hosted_engine": True}
    correlation = engine_api.correlation_id()
    service.install(
        ssh=ssh, activate=False, reboot=bool(props["reboot"]), headers={"Correlation-Id": correlation}, **action
    )
    ended = engine_api.wait_for(
        lambda: engine_api.install_end(base.api(props), correlation),
        lambda code: code is not None,
        f"the Engine to log the end of {host.name}'s reinstall (correlation id {correlation})",
        props["installTimeout"],
        base.poll_interval(props),
    )
    done = _host(props, all_content=False)
    if ended == engine_api.VDS_INSTALL_FAILED or done.status not in INSTALL_ENDED:
        raise StepError(
            host.name,
            f"its reinstall failed in the Engine (it is {done.status.value})",
            f"See its events (correlation id {correlation}) and host-deploy logs, fix the cause, then run "
            "`pulumi up` again.",
        )


def _monitored(props: dict, deploy: bool) -> types.Host:
    """The host once the Engine's monitoring of the Up host reports hosted-engine (un)configured."""
    return engine_api.wait_for(
        lambda: _host(props),
        lambda h: h.status == types.HostStatus.UP and _configured(h) == deploy,
        f"the Engine to report {props['host']} as {'a' if deploy else 'no longer a'} hosted-engine host",
        props["maintenanceTimeout"],
        base.poll_interval(props),
    )


def _settled(props: dict) -> types.Host:
    """The host once a transition already under way (perhaps started by a killed run) has ended."""
    return engine_api.wait_for(
        lambda: _host(props),
        lambda h: h.status not in IN_PROGRESS,
        f"{props['host']} to finish its current transition",
        props["installTimeout"],
        base.poll_interval(props),
    )


def _activate(props: dict) -> None:
    host = _settled(props)
    if host.status != types.HostStatus.UP:
        engine_api.host_service(base.api(props), host).activate()
        _wait_status(props, {types.HostStatus.UP}, "up", props["maintenanceTimeout"])


def _vm_status_score(props: dict, address: str) -> int | None:
    """The host's score as its own vm-status lists it (by its name in the stack or the Engine, or its address)."""
    connection = base.ssh_host(props)
    names = {props["host"], props["connection"]["name"], props["connection"]["address"], address}
    result = connection.run(*host_facts.VM_STATUS, check=False)
    return host_facts.vm_status_score(result.stdout, names) if result.exit_status == 0 else None


def _score(props: dict, host: types.Host) -> int:
    return engine_api.wait_for(
        lambda: _vm_status_score(props, host.address),
        lambda s: s is not None and s > 0,
        f"`hosted-engine --vm-status` on {props['host']} to show a positive score",
        props["maintenanceTimeout"],
        base.poll_interval(props),
    )


def _transform(props: dict, host: types.Host, deploy: bool) -> None:
    """Carries out plan(): the host made a node (deploy) or no longer one, then active."""
    steps = {
        "maintenance": lambda: _to_maintenance(props, host),
        "reinstall": lambda: _reinstall(props, host, deploy),
        "activate": lambda: _activate(props),
    }
    for step in plan(_facts(props, host, deploy), deploy):
        steps[step]()


def _convert(props: dict) -> dict:
    _transform(props, _settled(props), deploy=True)
    host = _monitored(props, deploy=True)
    return {**props, "hostId": host.id, "configured": _configured(host), "score": _score(props, host)}


def _is_node(props: dict, host: types.Host) -> bool:
    """Hosted-engine is deployed on the host (its vm-status lists it) though the Engine has not reported it,
    as after a killed run's reinstall, with the host still in maintenance: it is not reinstalled again."""
    return _vm_status_score(props, host.address) is not None


class HostedEngineNodeProvider(ResourceProvider):
    def check(self, olds, news):
        failures = [
            CheckFailure(k, f"`{k}` must be a positive number of seconds")
            for k in ("maintenanceTimeout", "installTimeout")
            if not (isinstance(news.get(k), (int, float)) and news[k] > 0)
        ]
        return CheckResult(news, failures)

    def diff(self, _id, olds, news):
        drifted = ["configured"] if olds.get("configured") is False or (olds.get("score") or 0) <= 0 else []
        return base.diff(
            olds,
            news,
            replace=["host", ("engine", lambda engine: (engine or {}).get("url"))],
            drifted=drifted,
            delete_before_replace=True,
        )

    @timed
    def create(self, props):
        return CreateResult(f"{props['engine']['url']}#host={props['host']}", _convert(props))

    @timed
    def update(self, _id, _olds, news):
        return UpdateResult(_convert(news))

    def read(self, id_, props):
        """An Engine that does not answer (its VM down or moving) says nothing about the host: the state's
        record stays."""
        try:
            host = engine_api.find_host(base.api(props), props["host"], all_content=True)
        except ovirtsdk4.Error as err:
            pulumi.log.warn(f"the new Engine does not answer ({err}): {props['host']} keeps its recorded state")
            return ReadResult(id_, props)
        if host is None:
            return ReadResult(None, {})
        score = host.hosted_engine.score if host.hosted_engine and host.hosted_engine.score is not None else 0
        return ReadResult(id_, {**props, "hostId": host.id, "configured": _configured(host), "score": score})

    def delete(self, _id, props):
        """Undeploys: maintenance, reinstall with hosted-engine UNDEPLOY, activate."""
        host = engine_api.find_host(base.api(props), props["host"], all_content=True)
        if host is None or not _configured(host):
            return
        _transform(props, host, deploy=False)
        _monitored(props, deploy=False)


class HostedEngineNode(Resource, module="ovirt", name="HostedEngineNode"):
    """An existing host converted to a self-hosted engine node; `score` is its HA score afterwards."""

    score: pulumi.Output[int]
    configured: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        engine: dict,
        admin_password,
        host: str,
        connection: dict,
        private_key,
        maintenance_timeout: float,
        install_timeout: float,
        poll_interval: float = base.POLL_INTERVAL,
        reboot: bool = True,
        opts=None,
    ):
        inputs = {
            "engine": engine,
            "adminPassword": admin_password,
            "host": host,
            "connection": connection,
            "privateKey": private_key,
            "maintenanceTimeout": maintenance_timeout,
            "installTimeout": install_timeout,
            "reboot": reboot,
            "pollInterval": poll_interval,
        }
        # Protected as the deployment is: a destroy would undeploy node after node before it reached the
        # deployment, and leave the Engine VM with fewer hosts to run on.
        super().__init__(
            HostedEngineNodeProvider(),
            name,
            base.properties(inputs, ("hostId", "configured", "score")),
            base.options(opts, ["adminPassword", "privateKey"], protect=True),
        )
