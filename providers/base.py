"""What every resource of this project shares: its hosts and its Engine reached from its properties, its
properties and secret outputs, and one diff.

Each provider reads the facts, plans the commands or steps that close the difference with a pure
`plan()`, carries them out and checks the result; what fails raises providers.errors.StepError.
"""

from __future__ import annotations

import json

import ovirtsdk4
import pulumi
from pulumi.dynamic import DiffResult

from providers import engine_api, ssh
from providers.timing import TIMING_OUTPUTS

POLL_INTERVAL = 2  # seconds between two reads of a long step's state (`nodeTimeouts.poll`)


def poll_interval(props: dict) -> float:
    return props.get("pollInterval", POLL_INTERVAL)


def ssh_host(props: dict, key: str = "connection") -> ssh.Connection:
    """The SSH connection to the host `props[key]` describes, with the stack's private key."""
    return ssh.connect(ssh.Host.from_props(props[key]), props["privateKey"])


def api(props: dict, key: str = "engine") -> ovirtsdk4.Connection:
    """The connection to the Engine API `props[key]` describes, as admin with the stack's password."""
    return engine_api.connect(engine_api.Engine.from_props(props[key]), props["adminPassword"])


def properties(inputs: dict, outputs: tuple[str, ...]) -> dict:
    """A resource's properties: its inputs, and its outputs (with when it ran) unknown until it is created."""
    return {**inputs, **dict.fromkeys(outputs), **TIMING_OUTPUTS}


def options(opts: pulumi.ResourceOptions | None, secrets: list[str], protect: bool = False) -> pulumi.ResourceOptions:
    """The caller's options with the secret properties sealed in the state; `protect` is a default the caller
    may lift, the sealing is not."""
    if protect:
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(protect=True), opts)
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=secrets))


def host_identity(connection: dict | None) -> tuple:
    """A host by its name and address: another port or user is the same host, another address is not."""
    return (connection or {}).get("name"), (connection or {}).get("address")


def name_of(value: dict | None):
    return (value or {}).get("name")


def canonical(value) -> str:
    """A value as JSON with sorted keys: the same settings in another order are the same."""
    return json.dumps(value, sort_keys=True)


def diff(olds: dict, news: dict, *, replace=(), update=(), drifted=(), delete_before_replace: bool) -> DiffResult:
    """Which properties change and which of those replace the resource. `replace` and `update` list property
    names, or (name, view) pairs where view(value) is what is compared; `drifted` names what a refresh found
    off on the site, to be put back by an update."""
    replaces = [name for name, view in _views(replace) if view(olds.get(name)) != view(news.get(name))]
    updates = [name for name, view in _views(update) if view(olds.get(name)) != view(news.get(name))]
    changes = updates + list(drifted) + replaces
    return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=delete_before_replace)


def _views(keys) -> list[tuple]:
    return [(key, lambda value: value) if isinstance(key, str) else key for key in keys]
