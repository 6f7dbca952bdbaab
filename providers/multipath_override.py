"""MultipathOverride: a drop-in under /etc/multipath/conf.d/ that overrides VDSM's /etc/multipath.conf.

VDSM rewrites /etc/multipath.conf when it is upgraded, so site settings live in a drop-in instead
(procedure 3.5). A change is applied with `systemctl reload multipathd`: restarting the daemon puts
errors in the VDSM logs.
"""

from __future__ import annotations

import posixpath
import re

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from providers import multipath_conf
from providers.ssh import Host, connect
from providers.timing import TIMING_OUTPUTS, timed

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
    connection = connect(Host.from_props(props["connection"]), props["privateKey"])
    content = connection.read_file(posixpath.join(CONF_D, props["file"]))
    return None if content is None else content.decode()


def _apply(props: dict, content: str | None) -> None:
    """Writes (or, with None, removes) the drop-in, then has a running multipathd re-read it."""
    connection = connect(Host.from_props(props["connection"]), props["privateKey"])
    path = posixpath.join(CONF_D, props["file"])
    if content is None:
        connection.run("rm", "-f", "--", path)
    else:
        connection.run("mkdir", "-p", CONF_D)
        connection.write_file(path, content.encode(), 0o644)
    if connection.run("systemctl", "is-active", "multipathd", check=False).exit_status == 0:
        connection.run("systemctl", "reload", "multipathd")


def _outputs(props: dict) -> dict:
    return {**props, "path": posixpath.join(CONF_D, props["file"])}


class MultipathOverrideProvider(ResourceProvider):
    def check(self, olds, news):
        problems = file_name_problems(news.get("file")) + multipath_conf.problems(news.get("settings") or {})
        return CheckResult(news, [CheckFailure("settings", p) for p in problems])

    def diff(self, _id, olds, news):
        replaces = [key for key in ("file",) if olds.get(key) != news.get(key)]
        old_host, new_host = olds.get("connection", {}), news.get("connection", {})
        if (old_host.get("name"), old_host.get("address")) != (new_host.get("name"), new_host.get("address")):
            replaces.append("connection")
        changed = multipath_conf.normalise(olds.get("settings") or {}) != multipath_conf.normalise(news.get("settings") or {})
        changes = replaces + (["settings"] if changed else [])
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=False)

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
        props = {"connection": connection, "privateKey": private_key, "file": file, "settings": settings, "path": None, **TIMING_OUTPUTS}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["privateKey"]))
        super().__init__(MultipathOverrideProvider(), name, props, opts)
