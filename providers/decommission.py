"""Decommission: the original Engine machine retired on purpose, the procedure's last sentence ("If the new
environment is running without issue, you can decommission the original Engine machine").

Asked for in the stack (`decommission.originalEngine`), and only once the new environment proves itself:
every node scores above 0 (its stack output, and `hosted-engine --vm-status` read again now) and the HA
drill passed when it is enabled. Then `ovirt-engine` is masked on the original machine, so that nobody
starts the old Engine beside the new one by mistake (a masked unit refuses start and enable), and with
`power-off` the machine is shut down. From here the way back through EngineBackup (runbook step 8) is gone.
"""

from __future__ import annotations

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from providers import base, host_facts
from providers.address_handover import power_off
from providers.errors import StepError
from providers.ssh import HostUnreachable
from providers.timing import TIMING_OUTPUTS, timed

MODES = ("keep-disabled", "power-off")
UNIT = "ovirt-engine"


def gate_problems(node_scores: dict, vm_status_json: str | None, drill_required: bool, drill_to: str | None) -> list:
    """What keeps the original Engine from being retired, from the facts read: [] when nothing does."""
    problems = [
        f"node {name} scores {score}"
        for name, score in sorted(node_scores.items())
        if not isinstance(score, (int, float)) or score <= 0
    ]
    if vm_status_json is None:
        problems.append("`hosted-engine --vm-status` did not answer on the deployment host")
    for entry in host_facts.vm_status_entries(vm_status_json or "{}"):
        if not entry.get("live-data") or int(entry.get("score") or 0) <= 0:
            stale = "" if entry.get("live-data") else " (stale)"
            problems.append(
                f"`hosted-engine --vm-status` shows {entry.get('hostname')} with score {entry.get('score')}{stale}"
            )
    if drill_required and not drill_to:
        problems.append("the HA drill has not passed")
    return problems


def _gate(props: dict) -> None:
    result = base.ssh_host(props, "deployHost").run(*host_facts.VM_STATUS, check=False)
    problems = gate_problems(
        props["nodeScores"] or {},
        result.stdout if result.exit_status == 0 else None,
        props["drillRequired"],
        props.get("drillTo"),
    )
    if problems:
        raise StepError(
            props["engine"]["name"],
            f"not decommissioning the original Engine ({props['engine']['name']}): {'; '.join(problems)}",
            "Nothing changed. Bring every node back to a positive score (and let the drill pass), then run "
            "`pulumi up` again.",
        )


def _retire(props: dict) -> dict:
    if props.get("handover") == "powered-off":
        pulumi.log.warn(
            f"{props['engine']['name']} is off since the address handover, so `{UNIT}` could not be masked there: "
            f"if it is ever powered on again, keep it off the Engine's address and `systemctl mask {UNIT}` first"
        )
        return {**props, "originalEngine": "powered-off"}
    engine = base.ssh_host(props, "engine")
    if engine.run("systemctl", "is-enabled", UNIT, check=False).stdout.strip() != "masked":
        engine.run("systemctl", "mask", "--now", UNIT)
    state = engine.run("systemctl", "is-enabled", UNIT, check=False).stdout.strip()
    if state != "masked":
        raise StepError(
            props["engine"]["name"],
            f"left it {state}",
            "Check the unit there, then run `pulumi up` again.",
            command=f"systemctl mask {UNIT}",
        )
    if props["mode"] == "power-off":
        power_off(engine)
    return {**props, "originalEngine": "powered-off" if props["mode"] == "power-off" else "masked"}


class DecommissionProvider(ResourceProvider):
    @timed
    def create(self, props):
        _gate(props)
        return CreateResult(f"{props['engine']['name']}#decommissioned", _retire(props))

    def diff(self, _id, olds, news):
        """Only a change of mode is work: masking again is nothing, and a powered-off machine stays off."""
        return DiffResult(changes=olds.get("mode") != news.get("mode") or olds.get("originalEngine") is None)

    @timed
    def update(self, _id, olds, news):
        _gate(news)
        return UpdateResult(_retire(news))

    def read(self, id_, props):
        """A masked unit unmasked behind the stack's back shows as drift; a powered-off machine says nothing."""
        if props.get("originalEngine") != "masked":
            return ReadResult(id_, props)
        try:
            state = base.ssh_host(props, "engine").run("systemctl", "is-enabled", UNIT, check=False).stdout.strip()
        except HostUnreachable:
            return ReadResult(id_, props)
        return ReadResult(id_, {**props, "originalEngine": "masked" if state == "masked" else None})

    def delete(self, _id, props):
        """Unmasks `ovirt-engine` (left disabled and stopped, as the backup left it); a powered-off machine is
        for the administrator to start."""
        if props.get("originalEngine") == "powered-off":
            by, masked = (
                ("the address handover", "was never masked there")
                if props.get("handover") == "powered-off"
                else ("the decommission", "stays masked there until you `systemctl unmask` it")
            )
            pulumi.log.warn(
                f"{props['engine']['name']} was powered off by {by}: power it on yourself if you need it; "
                f"`ovirt-engine` {masked}"
            )
            return
        base.ssh_host(props, "engine").run("systemctl", "unmask", UNIT)


class Decommission(Resource, module="ovirt", name="Decommission"):
    """The original Engine machine retired: `originalEngine` is `masked` or `powered-off`."""

    originalEngine: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        engine: dict,
        deploy_host: dict,
        private_key,
        mode: str,
        node_scores,
        drill_required: bool,
        drill_to=None,
        handover=None,
        opts=None,
    ):
        props = {
            "engine": engine,
            "deployHost": deploy_host,
            "privateKey": private_key,
            "mode": mode,
            "nodeScores": node_scores,
            "drillRequired": drill_required,
            "drillTo": drill_to,
            "handover": handover,  # AddressHandover's originalEngine
            "originalEngine": None,
            **TIMING_OUTPUTS,
        }
        super().__init__(DecommissionProvider(), name, props, base.options(opts, ["privateKey"]))
