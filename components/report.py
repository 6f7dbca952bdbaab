"""The migration report and the plan picture.

The report says, for one site, what ran on which host and when, how long each step took, the preflight
results, where the backup is and its checksum, the new Engine's URL and each node's hosted-engine score.
It is rendered from one plain dict (`ReportData`), gathered either

* in the program (`program_report`), exported as the stack output `report` (Markdown), or
* from a stack's state (`from_state`: `pulumi stack export` + `pulumi stack output --json`), which is
  what `./run report` (cli/report.py) writes to `.lab/report.md` and `.lab/report.html` (or `--out PATH`).

Secrets never enter it: only named plain fields are read, never whole inputs, and a value Pulumi keeps
sealed (a secret) is dropped, not shown.

The preflight's results (components/preflight, one row per check: passed, warned, failed or skipped,
with what it read) come from
  - in the program: the migration component's attribute `preflight_results`, or
  - in the state: the stack output `preflight`, else the `results` of the Preflight resource,
holding a list of {"check", "result", "checks", "messages", "read"} (or an Output of one).
Without them the report says preflight results are not available.

`./run report` (cli/report.py) writes it from the state; the plan picture is cli/plan.py.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

from components import outage_window
from providers.timing import seconds_between

PREFLIGHT_ATTRIBUTE = "preflight_results"
PREFLIGHT_OUTPUT = "preflight"
PREFLIGHT_TYPE = "/ovirt:Preflight"  # the preflight's read resource, whose `results` the state keeps

# The procedure's order: tier, the section of the procedure, and what the step does.
STEP_KINDS = {
    "StorageExport": (0, "3.1", "NFS export for a storage domain"),
    "MultipathOverride": (0, "3.2-3.5", "multipath drop-in, multipathd reloaded"),
    "DeploymentHostPackages": (0, "before 5", "the deploy's setup package and appliance, installed before the backup"),
    "EngineBackup": (1, "4-5", "Engine updated, stopped, backed up, backup copied off and checksummed"),
    "AddressHandover": (2, "before 6", "the FQDN's address freed for the Engine VM"),
    "HostedEngineDeployment": (3, "6", "hosted-engine --deploy --restore-from-file"),
    "HostedEngineNode": (4, "8", "host reinstalled as a hosted-engine node"),
    "HighAvailabilityDrill": (5, "after 8", "the Engine VM moved once to another node, its host back in service"),
    "MigrationEvidence": (6, "after 8", "the migration's logs and final node states archived beside the backup"),
    "Decommission": (7, "end", "the original Engine machine retired: ovirt-engine masked (or powered off)"),
}
# Pulumi's mark for a sealed value in `stack export` and `stack output --json`.
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _plain(value):
    """The value, or None when Pulumi keeps it sealed."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return None
    if value == "[secret]":
        return None
    return value


def kind_of(resource_type: str) -> str | None:
    name = resource_type.rsplit(":", 1)[-1]
    return name if name in STEP_KINDS else None


def where(kind: str, props: dict, addresses: bool = True) -> tuple[str, str]:
    """(hosts, what) for a step, from the few plain fields that say it."""

    def host(key):
        conn = _plain(props.get(key)) or {}
        name, address, port = _plain(conn.get("name")), _plain(conn.get("address")), _plain(conn.get("port"))
        if not name:
            return "?"
        return f"{name} ({address}:{port})" if address and addresses else str(name)

    if kind == "StorageExport":
        return host("connection"), f"export {_plain(props.get('path'))}"
    if kind == "MultipathOverride":
        return host("connection"), f"/etc/multipath/conf.d/{_plain(props.get('file'))}"
    if kind == "DeploymentHostPackages":
        return host("deployHost"), "ovirt-hosted-engine-setup and the deploy's appliance installed"
    if kind == "EngineBackup":
        return f"{host('engine')} -> {host('backupServer')}", "engine-backup --scope=all"
    if kind == "AddressHandover":
        return host("engine"), f"{_plain(props.get('fqdn'))}'s address freed ({_plain(props.get('mode')) or 'none'})"
    if kind == "HostedEngineDeployment":
        return host("deployHost"), f"hosted-engine --deploy for {_plain(props.get('fqdn'))}"
    if kind == "HostedEngineNode":
        return host("connection"), f"{_plain(props.get('host'))}: maintenance, reinstall with DEPLOY, activate"
    if kind == "MigrationEvidence":
        return host("backupServer"), f"archive {_plain(props.get('location'))}"
    if kind == "Decommission":
        return host("engine"), f"ovirt-engine masked ({_plain(props.get('mode'))})"
    if kind == "HighAvailabilityDrill":
        return host("connection"), "the Engine VM's host to maintenance, the VM taken by another node, activate"
    return "?", ""


def _step(name: str, kind: str, props: dict) -> dict:
    hosts, what = where(kind, props)
    tier, section, meaning = STEP_KINDS[kind]
    return {
        "name": name,
        "kind": kind,
        "section": section,
        "hosts": hosts,
        "what": what or meaning,
        "startedAt": _plain(props.get("startedAt")),
        "finishedAt": _plain(props.get("finishedAt")),
        "tier": tier,
    }


def _ordered(steps: list[dict]) -> list[dict]:
    order = list(STEP_KINDS)  # stable: keeps the program's order within a kind
    return sorted(steps, key=lambda s: (s["tier"], order.index(s["kind"])))


def from_state(stack: str, export: dict, outputs: dict) -> dict:
    """ReportData from `pulumi stack export` and `pulumi stack output --json` (secrets stay sealed)."""
    steps, timelines, outputs = [], [], dict(outputs)
    for resource in export.get("deployment", {}).get("resources", []):
        if resource.get("type", "").endswith(PREFLIGHT_TYPE) and PREFLIGHT_OUTPUT not in outputs:
            outputs[PREFLIGHT_OUTPUT] = resource.get("outputs", {}).get("results")  # read on the last preview or up
        kind = kind_of(resource.get("type", ""))
        if kind:
            props = {**resource.get("inputs", {}), **resource.get("outputs", {})}
            steps.append(_step(resource["urn"].rsplit("::", 1)[-1], kind, props))
            timelines.append((steps[-1]["name"], kind, _timeline(kind, props)))
    window = outage_window.measure(timelines)  # from the resources: a failed `up` leaves the stack outputs behind
    return _data(stack, _ordered(steps), {**outputs, "outageWindow": {"measured": window}})


def _timeline(kind: str, props: dict) -> list[dict]:
    if kind == "AddressHandover":
        return outage_window.handover_steps(_plain(props.get("startedAt")), _plain(props.get("finishedAt")))
    return _plain(props.get("steps")) or []


def _data(stack: str, steps: list[dict], outputs: dict) -> dict:
    backup = _plain(outputs.get("backup")) or {}
    scores = _plain(outputs.get("nodeScores")) or {}
    return {
        "site": stack,
        "steps": steps,
        "preflight": _plain(outputs.get(PREFLIGHT_OUTPUT)),
        "backup": {k: _plain(backup.get(k)) for k in ("location", "sha256", "engineVersion")} if backup else None,
        "engineUrl": _plain(outputs.get("engineUrl")),
        "nodeScores": {k: _plain(v) for k, v in scores.items()},
        "haDrill": _plain(outputs.get("haDrill")),
        "evidence": _plain(outputs.get("evidence")),
        "originalEngine": _plain(outputs.get("originalEngine")),
        "outageWindow": (_plain(outputs.get("outageWindow")) or {}).get("measured"),
    }


def program_report(migration, stack: str):
    """The report as an Output[str] of Markdown, for the stack output `report`."""
    import pulumi

    site = migration.site
    entries = []  # (name, kind, props known in the program, resource)
    for export, res in zip(site.storage_exports, migration.storage_exports):
        entries.append(
            (res._name, "StorageExport", {"connection": site.connection(export.host), "path": export.path}, res)
        )
    for override, res in zip(site.multipath_overrides, migration.multipath_overrides):
        entries.append(
            (res._name, "MultipathOverride", {"connection": site.connection(override.host), "file": override.file}, res)
        )
    m = site.migration
    if m and migration.backup:
        entries.append(
            (
                migration.packages._name,
                "DeploymentHostPackages",
                {"deployHost": site.connection(m.deployment_host)},
                migration.packages,
            )
        )
        entries.append(
            (
                migration.backup._name,
                "EngineBackup",
                {"engine": site.connection(m.original_engine), "backupServer": site.connection(m.backup_server)},
                migration.backup,
            )
        )
        entries.append(
            (
                migration.handover._name,
                "AddressHandover",
                {
                    "engine": site.connection(m.original_engine),
                    "fqdn": m.hosted_engine.get("fqdn"),
                    "mode": m.hosted_engine.get("addressHandover"),
                },
                migration.handover,
            )
        )
        entries.append(
            (
                migration.deployment._name,
                "HostedEngineDeployment",
                {"deployHost": site.connection(m.deployment_host), "fqdn": m.hosted_engine.get("fqdn")},
                migration.deployment,
            )
        )
        for host, node in zip(m.nodes, migration.nodes):
            entries.append(
                (
                    node._name,
                    "HostedEngineNode",
                    {"connection": site.connection(host), "host": site.engine_host_name(host)},
                    node,
                )
            )
        after_the_move = (
            (migration.drill, "HighAvailabilityDrill", {"connection": site.connection(m.deployment_host)}),
            (
                migration.evidence,
                "MigrationEvidence",
                {
                    "backupServer": site.connection(m.backup_server),
                    "location": migration.evidence_location,
                },
            ),
            (
                migration.decommission,
                "Decommission",
                {"engine": site.connection(m.original_engine), "mode": m.decommission},
            ),
        )
        entries += [(res._name, kind, props, res) for res, kind, props in after_the_move if res is not None]
    timings = [pulumi.Output.all(getattr(r, "startedAt", None), getattr(r, "finishedAt", None)) for *_, r in entries]
    outputs = {}
    if migration.backup:
        outputs = {
            "backup": {
                "location": migration.backup.location,
                "sha256": migration.backup.sha256,
                "engineVersion": migration.backup.engineVersion,
            },
            "engineUrl": migration.deployment.engineUrl,
            "nodeScores": {h: n.score for h, n in zip(m.nodes, migration.nodes)},
        }
        outputs.update(
            {
                k: v
                for k, v in migration.outputs().items()
                if k in ("haDrill", "evidence", "originalEngine", "outageWindow")
            }
        )
    preflight = getattr(migration, PREFLIGHT_ATTRIBUTE, None)
    if preflight is not None:
        outputs[PREFLIGHT_OUTPUT] = preflight

    def render(args):
        times, outs = args
        steps = [
            _step(name, kind, {**props, "startedAt": t[0], "finishedAt": t[1]})
            for (name, kind, props, _), t in zip(entries, times)
        ]
        return to_markdown(_data(stack, _ordered(steps), outs))

    return pulumi.Output.all(pulumi.Output.all(*timings), pulumi.Output.from_input(outputs)).apply(render)


def _duration(step: dict) -> str:
    seconds = seconds_between(step["startedAt"], step["finishedAt"])
    return "-" if seconds is None else _length(seconds)


def _length(seconds: float) -> str:
    if seconds >= 60:
        return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"
    return f"{seconds:.1f}s" if seconds < 10 else f"{int(seconds)}s"


@dataclass
class Timeline:
    """The outage window as a picture: one bar per step, placed on the window's length."""

    window: dict

    def bars(self) -> list[tuple[str, float, float, str]]:
        """(label, start, width, took) per step, start and width as fractions of the window."""
        total = self.window["seconds"] or 1
        return [
            (f"{s['resource']} {s['step']}", s["offset"] / total, s["seconds"] / total, _length(s["seconds"]))
            for s in self.window["steps"]
        ]

    def rows(self) -> list[list[str]]:
        return [
            [str(i), s["resource"], s["step"], s["what"], f"+{_length(s['offset'])}", _length(s["seconds"])]
            for i, s in enumerate(self.window["steps"], 1)
        ]


WINDOW_HEADER = ["#", "resource", "step", "why it runs while no Engine runs", "from the stop", "took"]


def _sections(data: dict) -> list[tuple[str, list[str] | None, list[list[str]] | str]]:
    """(title, table header or None, rows or a sentence): what both renderings show."""
    steps = [
        [
            str(i),
            s["name"],
            s["section"],
            s["hosts"],
            s["what"],
            s["startedAt"] or "-",
            s["finishedAt"] or "-",
            _duration(s),
        ]
        for i, s in enumerate(data["steps"], 1)
    ]
    pre = data.get("preflight")
    if pre is None:
        preflight = "Preflight results are not available for this stack (no `preflight` output)."
    else:
        preflight = [
            [
                str(p.get("check", "")),
                str(p.get("result", "")),
                str(p.get("checks", "")),
                "; ".join(map(str, p.get("messages") or [])) or "-",
                "; ".join(map(str, p.get("read") or [])) or "-",
            ]
            for p in pre
        ] or "No preflight check ran (the stack has no `roles`)."
    backup = data.get("backup") or {}
    starts = sorted(s["startedAt"] for s in data["steps"] if s["startedAt"])
    ends = sorted(s["finishedAt"] for s in data["steps"] if s["finishedAt"])
    window = _duration({"startedAt": starts[0], "finishedAt": ends[-1]}) if starts and ends else "-"
    engine = [
        ["Steps ran (UTC)", f"{starts[0]} to {ends[-1]} ({window})" if starts and ends else "no timings recorded"],
        ["New Engine", data.get("engineUrl") or "not deployed"],
        ["Backup location", backup.get("location") or "no backup yet"],
        ["Backup SHA-256", backup.get("sha256") or "-"],
        ["Backed-up Engine version", backup.get("engineVersion") or "-"],
        ["Evidence archive", (data.get("evidence") or {}).get("location") or "not collected yet"],
        ["Evidence SHA-256", (data.get("evidence") or {}).get("sha256") or "-"],
        [
            "Original Engine machine",
            {
                "masked": "decommissioned: ovirt-engine masked",
                "powered-off": "decommissioned: ovirt-engine masked, powered off",
            }.get(data.get("originalEngine") or "", "not decommissioned (ovirt-engine stopped and disabled)"),
        ],
    ]
    scores = [
        [h, str(s) if s is not None else "-", "ok" if isinstance(s, (int, float)) and s > 0 else "NOT READY"]
        for h, s in (data.get("nodeScores") or {}).items()
    ] or "No hosted-engine nodes in this stack."
    drill = data.get("haDrill")
    drill_rows = (
        [[str(drill.get("fromNode")), str(drill.get("toNode")), f"{drill.get('seconds')} s"]]
        if drill and drill.get("toNode")
        else "The drill is off for this stack (`haDrill.enabled`), or has not run yet."
    )
    window = data.get("outageWindow")
    engine.insert(1, ["Outage window", _window_summary(window)])
    return [
        ("Result", ["", ""], engine),
        (
            "Outage window: from ovirt-engine stopping until the new Engine answered",
            WINDOW_HEADER,
            Timeline(window)
            if window
            else "Not measured: the original Engine was not stopped, or the new Engine "
            "has not answered yet, in a recorded run.",
        ),
        ("Preflight", ["check", "result", "what it checks", "what it found", "what it read"], preflight),
        (
            "Steps, in the procedure's order",
            ["#", "step", "procedure", "host", "what", "started (UTC)", "finished (UTC)", "took"],
            steps or "Nothing has run yet.",
        ),
        ("Hosted-engine nodes (`hosted-engine --vm-status` score)", ["host", "score", "state"], scores),
        ("High-availability drill", ["the Engine VM left", "taken by", "until good health"], drill_rows),
    ]


def _window_summary(window: dict | None) -> str:
    if not window:
        return "not measured yet"
    gaps = window["seconds"] - window["stepsSeconds"]
    return (
        f"{_length(window['seconds'])}, from {window['openedAt']} to {window['closedAt']} "
        f"({_length(window['stepsSeconds'])} in its steps, {_length(max(gaps, 0))} between them)"
    )


def _text_picture(timeline: Timeline, width: int = 48) -> list[str]:
    """The window drawn in text, one bar per step, for Markdown readers without pictures."""
    bars = timeline.bars()
    label = max(len(b[0]) for b in bars)
    lines = []
    for name, start, size, took in bars:
        left = min(int(start * width), width - 1)
        cells = max(1, round(size * width))
        lines.append(f"{name:<{label}} |{' ' * left}{'█' * min(cells, width - left):<{width - left}}| {took}")
    return ["```text", *lines, "```"]


def to_markdown(data: dict) -> str:
    def cell(text):
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [f"# Migration report: site `{data['site']}`", ""]
    for title, header, body in _sections(data):
        lines += [f"## {title}", ""]
        if isinstance(body, str):
            lines += [body, ""]
            continue
        if isinstance(body, Timeline):
            lines += [*_text_picture(body), ""]
            body = body.rows()
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
        lines.append("")
    return "\n".join(lines)


def _svg_picture(timeline: Timeline) -> str:
    """The window as an SVG: a bar per step on the window's length, its label left, its length right."""
    e, row, left, width = html.escape, 22, 260, 520
    bars = timeline.bars()
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{left + width + 80}' height='{row * len(bars) + 30}' "
        f"role='img' aria-label='the outage window, step by step'>"
    ]
    for i, (name, start, size, took) in enumerate(bars):
        y = i * row + 4
        parts += [
            f"<text x='0' y='{y + 13}' font-size='12'>{e(name)}</text>",
            f"<rect x='{left + start * width:.1f}' y='{y}' width='{max(size * width, 2):.1f}' height='16' "
            f"fill='#c0392b'><title>{e(name)}: {e(took)}</title></rect>",
            f"<text x='{left + width + 8}' y='{y + 13}' font-size='12'>{e(took)}</text>",
        ]
    axis = row * len(bars) + 8
    total = _length(timeline.window["seconds"])
    parts += [
        f"<line x1='{left}' y1='{axis}' x2='{left + width}' y2='{axis}' stroke='#333'/>",
        f"<text x='{left}' y='{axis + 16}' font-size='11'>ovirt-engine stopped</text>",
        f"<text x='{left + width}' y='{axis + 16}' font-size='11' text-anchor='end'>new Engine answered, "
        f"{e(total)}</text>",
        "</svg>",
    ]
    return "".join(parts)


def to_html(data: dict) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        "<html><head><meta charset='utf-8'>",
        f"<title>Migration report: {e(data['site'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}th{background:#eee}"
        "code{font-family:monospace}</style></head><body>",
        f"<h1>Migration report: site <code>{e(data['site'])}</code></h1>",
    ]
    for title, header, body in _sections(data):
        parts.append(f"<h2>{e(title.replace('`', ''))}</h2>")
        if isinstance(body, str):
            parts.append(f"<p>{e(body.replace('`', ''))}</p>")
            continue
        if isinstance(body, Timeline):
            parts.append(_svg_picture(body))
            body = body.rows()
        parts.append("<table>")
        if any(header):
            parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in body]
        parts.append("</table>")
    parts.append(f"<p>Generated {e(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}.</p></body></html>")
    return "\n".join(parts) + "\n"
