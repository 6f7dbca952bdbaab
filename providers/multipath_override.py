"""MultipathOverride: a drop-in under /etc/multipath/conf.d/ that overrides VDSM's /etc/multipath.conf.

VDSM rewrites /etc/multipath.conf when it is upgraded, so site settings live in a drop-in instead
(procedure 3.5). A change is applied with `systemctl reload multipathd`: restarting the daemon puts
errors in the VDSM logs.
"""

from __future__ import annotations

import posixpath
import re

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, Resource, ResourceProvider, UpdateResult

from providers import base, multipath_conf
from providers.errors import StepError
from providers.timing import timed

CONF_D = "/etc/multipath/conf.d"
FILE_NAME = re.compile(r"^[0-9]{2}-[A-Za-z0-9_.-]+\.conf$")


def file_name_problems(name) -> list[str]:
    if isinstance(name, str) and FILE_NAME.match(name):
        return []
    return [
        f"`file` is {name!r}: name the drop-in NN-name.conf (for example 90-vendor.conf); files in "
        f"{CONF_D} are read in alphabetical order and the number sets that order"
    ]


def _facts(props: dict) -> str | None:
    """The drop-in as it is on the host now, or None when it is not there."""
    connection = base.ssh_host(props)
    content = connection.read_file(posixpath.join(CONF_D, props["file"]))
    return None if content is None else content.decode()


def plan(path: str, wanted: str | None, multipathd_active: bool) -> list[tuple]:
    """The commands that put the drop-in's `wanted` text in place (None: remove it), then have a running
    multipathd re-read it; ("write", file, text) writes a file."""
    steps = [("rm", "-f", "--", path)] if wanted is None else [("mkdir", "-p", CONF_D), ("write", path, wanted)]
    return steps + ([("systemctl", "reload", "multipathd")] if multipathd_active else [])


def _apply(props: dict, wanted: str | None) -> None:
    """Carries out plan(), then reads the drop-in back: it must be what was meant."""
    connection, path = base.ssh_host(props), posixpath.join(CONF_D, props["file"])
    active = connection.run("systemctl", "is-active", "multipathd", check=False).exit_status == 0
    for step in plan(path, wanted, active):
        if step[0] == "write":
            connection.write_file(step[1], step[2].encode(), 0o644)
        else:
            connection.run(*step)
    if _facts(props) != wanted:
        raise StepError(
            connection.host.name,
            f"{path} is not as written ({'still there' if wanted is None else 'other text'})",
            f"Check what else writes to {CONF_D} on {connection.host.name}, then run `pulumi up` again.",
        )


def _outputs(props: dict) -> dict:
    return {**props, "path": posixpath.join(CONF_D, props["file"])}


class MultipathOverrideProvider(ResourceProvider):
    def check(self, olds, news):
        problems = file_name_problems(news.get("file")) + multipath_conf.problems(news.get("settings") or {})
        return CheckResult(news, [CheckFailure("settings", p) for p in problems])

    def diff(self, _id, olds, news):
        settings = ("settings", lambda value: multipath_conf.normalise(value or {}))  # compared as the file reads
        return base.diff(
            olds,
            news,
            replace=["file", ("connection", base.host_identity)],
            update=[settings],
            delete_before_replace=False,
        )

    @timed
    def create(self, props):
        # Written and reloaded even when a killed run left the same file: its reload may not have run.
        _apply(props, multipath_conf.render(props["settings"]))
        return CreateResult(f"{props['connection']['name']}:{CONF_D}/{props['file']}", _outputs(props))

    def read(self, id_, props):
        content = _facts(props)
        if content is None:
            return ReadResult(None, {})
        actual = {**props, "settings": multipath_conf.parse(content)}
        return ReadResult(id_, _outputs(actual))

    @timed
    def update(self, _id, _olds, news):
        _apply(news, multipath_conf.render(news["settings"]))
        return UpdateResult(_outputs(news))

    def delete(self, _id, props):
        if _facts(props) is not None:
            _apply(props, None)


class MultipathOverride(Resource, module="ovirt", name="MultipathOverride"):
    """A multipath drop-in on one host; `settings` holds defaults, overrides, devices and multipaths."""

    path: pulumi.Output[str]

    def __init__(self, name: str, *, connection: dict, private_key, file: str, settings: dict, opts=None):
        inputs = {"connection": connection, "privateKey": private_key, "file": file, "settings": settings}
        super().__init__(
            MultipathOverrideProvider(), name, base.properties(inputs, ("path",)), base.options(opts, ["privateKey"])
        )
