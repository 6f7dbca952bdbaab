"""The outage window: from `ovirt-engine` stopping on the original machine until the new Engine first answers its
API. Nothing manages the site in between (no migration, no failover decision, no console): it is what a migration
costs its users, so only what needs the Engine stopped runs in it.

The preview says what will run in it (`planned`: the stack output `outageWindow`'s `before` and `inside`); after
`up` it is measured (`measure`) from the steps the providers recorded: the `steps` outputs of EngineBackup and
HostedEngineDeployment and the AddressHandover's start and end. The stack output and the report (from the program
and from the state) all measure it here.
"""

from __future__ import annotations

from providers.hosted_engine_deployment import ENGINE_ANSWERS
from providers.timing import seconds_between

OPENS = ("EngineBackup", "stop")
CLOSES = ("HostedEngineDeployment", ENGINE_ANSWERS)
HANDOVER = ("AddressHandover", "handover")  # one step: the resource's whole create
RETRY = ("HostedEngineDeployment", "cleanup")  # only when a failed deploy is retried
# What runs inside the window, in order, and why it must run there (what may run before it, runs before it).
INSIDE = {
    OPENS: "ovirt-engine stopped and disabled, so nothing changes after the backup",
    ("EngineBackup", "backup"): "engine-backup --scope=all of the stopped Engine",
    ("EngineBackup", "copy"): "the backup copied to the backup server and the deployment host at once, verified",
    HANDOVER: "the FQDN's address freed for the Engine VM (after the copy: the machine may be powered off)",
    RETRY: "asked by `hostedEngine.retryFailedDeploy` after a failed deploy: ovirt-hosted-engine-cleanup, host checked",
    ("HostedEngineDeployment", "fetch"): "the backup's copy on the deployment host checked against its checksum",
    ("HostedEngineDeployment", "start"): "the answer file written, hosted-engine --deploy --restore-from-file started",
    ("HostedEngineDeployment", "follow"): "the deploy followed to its end: it restores the backup into the Engine VM",
    CLOSES: "the new Engine's API answered",
}


def planned(names: dict[str, str], retry: bool = False) -> list[str]:
    """What will run inside the window, in order, as `resource: step, what`; `names` maps a kind to its resource;
    the cleanup only when a failed deploy is retried."""
    steps = [(kind, step) for kind, step in INSIDE if kind in names and (retry or (kind, step) != RETRY)]
    return [f"{names[kind]}: {step}, {INSIDE[kind, step]}" for kind, step in steps]


def handover_steps(started: str | None, finished: str | None) -> list[dict]:
    return [{"step": HANDOVER[1], "startedAt": started, "finishedAt": finished}] if started and finished else []


def measure(timelines: list[tuple[str, str, list[dict] | None]]) -> dict | None:
    """The window from [(resource, kind, steps)]: its ends, its length, each step that ran in it (with its offset
    from the opening and its seconds) and their sum; None until both ends were recorded."""
    ran = [{"resource": name, "kind": kind, **step} for name, kind, steps in timelines for step in steps or []]
    opened = next((s["startedAt"] for s in ran if (s["kind"], s["step"]) == OPENS), None)
    closed = next((s["finishedAt"] for s in ran if (s["kind"], s["step"]) == CLOSES), None)
    if not (opened and closed):
        return None
    inside = [s for s in ran if 0 <= seconds_between(opened, s["startedAt"]) <= seconds_between(opened, closed)]
    steps = [
        {
            "resource": s["resource"],
            "step": s["step"],
            "what": INSIDE.get((s["kind"], s["step"]), ""),
            "startedAt": s["startedAt"],
            "finishedAt": s["finishedAt"],
            "offset": round(seconds_between(opened, s["startedAt"]), 3),
            "seconds": round(seconds_between(s["startedAt"], s["finishedAt"]), 3),
        }
        for s in inside
    ]
    return {
        "openedAt": opened,
        "closedAt": closed,
        "seconds": round(seconds_between(opened, closed), 3),
        "stepsSeconds": round(sum(s["seconds"] for s in steps), 3),
        "steps": steps,
    }
