"""Gluster: replica 1 or 3 only, and the volume options procedure 6.18 lists."""

from __future__ import annotations

import re

from components.preflight.facts import storage_host

GLUSTER_OPTIONS = (  # procedure 6.18; `group virt` is checked through one option it sets, features.shard
    ("features.shard", "on", "group virt"),
    ("performance.strict-o-direct", "on", None),
    ("network.remote-dio", "off", None),
    ("storage.owner-uid", "36", None),
    ("storage.owner-gid", "36", None),
    ("network.ping-timeout", "30", None),
)


_GLUSTER_BOOL = {
    "on": "on",
    "enable": "on",
    "true": "on",
    "yes": "on",
    "1": "on",
    "off": "off",
    "disable": "off",
    "false": "off",
    "no": "off",
    "0": "off",
}


def check(site, hosts, facts, findings, password, api):
    """Procedure 6.18 for Gluster: replica 1 or 3 only, and the volume options it lists."""
    storage = site.migration.hosted_engine["storage"]
    if storage["type"] != "glusterfs":
        return
    server, _, path = storage["connection"].partition(":")
    volume = path.strip("/")
    name = storage_host(site, hosts, server) if volume else None
    if name is None:
        return  # _storage reports a bad connection or a server outside `hosts`
    info = hosts.run(name, "gluster", "volume", "info", volume)
    if info is None:
        return
    if info.exit_status != 0:
        findings.errors.append(
            f"`gluster volume info {volume}` on {server} (`hostedEngine.storage.connection`) failed: "
            f"{(info.stderr or info.stdout).strip()[-200:]}; create the volume, or name an existing one"
        )
        return
    text = info.stdout
    bricks = re.search(r"^Number of Bricks:\s*(.+)$", text, re.M)
    layout = bricks.group(1).strip() if bricks else ""
    replica_match = re.match(r"\d+\s*x\s*(?:\((\d+)\s*\+\s*(\d+)\)|(\d+))\s*=", layout)
    if replica_match:
        replica = (
            int(replica_match.group(1)) + int(replica_match.group(2))
            if replica_match.group(1)
            else int(replica_match.group(3))
        )
    else:
        replica = 1 if re.match(r"^\d+$", layout) else None
    if replica not in (1, 3):
        findings.errors.append(
            f"gluster volume {volume} (`hostedEngine.storage.connection`) is replica "
            f"{replica if replica is not None else layout!r} (`Number of Bricks: {layout}`): only "
            f"replica 1 and replica 3 Gluster storage are supported (procedure 6.18); use a replica 3 "
            f"(or replica 1) volume"
        )
    options = (
        dict(re.findall(r"^([a-z][\w.-]*):\s*(\S.*?)\s*$", text.split("Options Reconfigured:", 1)[1], re.M))
        if "Options Reconfigured:" in text
        else {}
    )
    for key, wanted, group in GLUSTER_OPTIONS:
        value = options.get(key)
        if _GLUSTER_BOOL.get(str(value).lower(), value) == wanted:
            continue
        now = f"it is {value}" if value is not None else "it is not set"
        fix = f"gluster volume set {volume} {group or key + ' ' + wanted}"
        what = f"the `{group}` option group ({key} {wanted})" if group else f"{key} {wanted}"
        findings.errors.append(
            f"gluster volume {volume} (`hostedEngine.storage.connection`) lacks {what}, {now}: "
            f"run `{fix}` (procedure 6.18)"
        )
