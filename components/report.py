"""The migration report and the plan picture.

The report says, for one site, what ran on which host and when, how long each step took, the preflight
results, where the backup is and its checksum, the new Engine's URL and each node's hosted-engine score.
It is rendered from one plain dict (`ReportData`), gathered either

* in the program (`program_report`), exported as the stack output `report` (Markdown), or
* from a stack's state (`from_state`: `pulumi stack export` + `pulumi stack output --json`), which is
  what `./run report` writes to `.lab/report.md` and `.lab/report.html` (or `--out PATH`).

Secrets never enter it: only named plain fields are read, never whole inputs, and a value Pulumi keeps
sealed (a secret) is dropped, not shown.

The preflight's results (components/preflight, one row per check: passed, warned, failed or skipped,
with what it read) come from
  - in the program: the migration component's attribute `preflight_results`, or
  - in the state: the stack output `preflight`, else the `results` of the Preflight resource,
holding a list of {"check", "result", "checks", "messages", "read"} (or an Output of one).
Without them the report says preflight results are not available.

The plan picture (`plan_graph`, `to_dot`, `to_svg`) draws the resources of `pulumi preview --json` (or
of the state) with their dependencies, one column per tier, so it reads in the procedure's order.

    python -m components.report report [--stack S] [--out FILE.md]   # .md and .html
    python -m components.report graph  [--stack S] [--out FILE.svg]  # .svg and .dot, from a preview
"""

from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PREFLIGHT_ATTRIBUTE = "preflight_results"
PREFLIGHT_OUTPUT = "preflight"
PREFLIGHT_TYPE = "/ovirt:Preflight"  # the preflight's read resource, whose `results` the state keeps

# The procedure's order: tier, the section of the procedure, and what the step does.
STEP_KINDS = {
    "StorageExport": (0, "3.1", "NFS export for a storage domain"),
    "MultipathOverride": (0, "3.2-3.5", "multipath drop-in, multipathd reloaded"),
    "EngineBackup": (1, "4-5", "Engine updated, stopped, backed up, backup copied off and checksummed"),
    "HostedEngineDeployment": (2, "6", "hosted-engine --deploy --restore-from-file"),
    "HostedEngineNode": (3, "8", "host reinstalled as a hosted-engine node"),
    "HighAvailabilityDrill": (4, "after 8", "the Engine VM moved once to another node, its host back in service"),
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


def _kind(resource_type: str) -> str | None:
    name = resource_type.rsplit(":", 1)[-1]
    return name if name in STEP_KINDS else None


def _where(kind: str, props: dict, addresses: bool = True) -> tuple[str, str]:
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
    if kind == "EngineBackup":
        return f"{host('engine')} -> {host('backupServer')}", "engine-backup --scope=all"
    if kind == "HostedEngineDeployment":
        return host("deployHost"), f"hosted-engine --deploy for {_plain(props.get('fqdn'))}"
    if kind == "HostedEngineNode":
        return host("connection"), f"{_plain(props.get('host'))}: maintenance, reinstall with DEPLOY, activate"
    if kind == "HighAvailabilityDrill":
        return host("connection"), "the Engine VM's host to maintenance, the VM taken by another node, activate"
    return "?", ""


def _step(name: str, kind: str, props: dict) -> dict:
    hosts, what = _where(kind, props)
    tier, section, meaning = STEP_KINDS[kind]
    return {"name": name, "kind": kind, "section": section, "hosts": hosts, "what": what or meaning,
            "startedAt": _plain(props.get("startedAt")), "finishedAt": _plain(props.get("finishedAt")), "tier": tier}


def _ordered(steps: list[dict]) -> list[dict]:
    order = list(STEP_KINDS)  # stable: keeps the program's order within a kind
    return sorted(steps, key=lambda s: (s["tier"], order.index(s["kind"])))


def from_state(stack: str, export: dict, outputs: dict) -> dict:
    """ReportData from `pulumi stack export` and `pulumi stack output --json` (secrets stay sealed)."""
    steps, outputs = [], dict(outputs)
    for resource in export.get("deployment", {}).get("resources", []):
        if resource.get("type", "").endswith(PREFLIGHT_TYPE) and PREFLIGHT_OUTPUT not in outputs:
            outputs[PREFLIGHT_OUTPUT] = resource.get("outputs", {}).get("results")  # read on the last preview or up
        kind = _kind(resource.get("type", ""))
        if kind:
            props = {**resource.get("inputs", {}), **resource.get("outputs", {})}
            steps.append(_step(resource["urn"].rsplit("::", 1)[-1], kind, props))
    return _data(stack, _ordered(steps), outputs)


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
    }


def program_report(migration, stack: str):
    """The report as an Output[str] of Markdown, for the stack output `report`."""
    import pulumi

    site = migration.site
    entries = []  # (name, kind, props known in the program, resource)
    for export, res in zip(site.storage_exports, migration.storage_exports):
        entries.append((res._name, "StorageExport", {"connection": site.connection(export.host), "path": export.path}, res))
    for override, res in zip(site.multipath_overrides, migration.multipath_overrides):
        entries.append((res._name, "MultipathOverride", {"connection": site.connection(override.host), "file": override.file}, res))
    m = site.migration
    if m and migration.backup:
        entries.append((migration.backup._name, "EngineBackup", {"engine": site.connection(m.original_engine),
                        "backupServer": site.connection(m.backup_server)}, migration.backup))
        entries.append((migration.deployment._name, "HostedEngineDeployment", {"deployHost": site.connection(m.deployment_host),
                        "fqdn": m.hosted_engine.get("fqdn")}, migration.deployment))
        for host, node in zip(m.nodes, migration.nodes):
            entries.append((node._name, "HostedEngineNode", {"connection": site.connection(host),
                            "host": site.engine_host_name(host)}, node))
        if migration.drill:
            entries.append((migration.drill._name, "HighAvailabilityDrill",
                            {"connection": site.connection(m.deployment_host)}, migration.drill))
    timings = [pulumi.Output.all(getattr(r, "startedAt", None), getattr(r, "finishedAt", None)) for *_, r in entries]
    outputs = {}
    if migration.backup:
        outputs = {"backup": {"location": migration.backup.location, "sha256": migration.backup.sha256,
                              "engineVersion": migration.backup.engineVersion},
                   "engineUrl": migration.deployment.engineUrl,
                   "nodeScores": {h: n.score for h, n in zip(m.nodes, migration.nodes)}}
        if migration.drill:
            outputs["haDrill"] = migration.outputs()["haDrill"]
    preflight = getattr(migration, PREFLIGHT_ATTRIBUTE, None)
    if preflight is not None:
        outputs[PREFLIGHT_OUTPUT] = preflight

    def render(args):
        times, outs = args
        steps = [_step(name, kind, {**props, "startedAt": t[0], "finishedAt": t[1]})
                 for (name, kind, props, _), t in zip(entries, times)]
        return to_markdown(_data(stack, _ordered(steps), outs))

    return pulumi.Output.all(pulumi.Output.all(*timings), pulumi.Output.from_input(outputs)).apply(render)


def _duration(step: dict) -> str:
    try:
        start = datetime.strptime(step["startedAt"], "%Y-%m-%dT%H:%M:%SZ")
        end = datetime.strptime(step["finishedAt"], "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return "-"
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _sections(data: dict) -> list[tuple[str, list[str] | None, list[list[str]] | str]]:
    """(title, table header or None, rows or a sentence): what both renderings show."""
    steps = [[str(i), s["name"], s["section"], s["hosts"], s["what"], s["startedAt"] or "-", s["finishedAt"] or "-",
              _duration(s)] for i, s in enumerate(data["steps"], 1)]
    pre = data.get("preflight")
    if pre is None:
        preflight = "Preflight results are not available for this stack (no `preflight` output)."
    else:
        preflight = [[str(p.get("check", "")), str(p.get("result", "")), str(p.get("checks", "")),
                      "; ".join(map(str, p.get("messages") or [])) or "-", "; ".join(map(str, p.get("read") or [])) or "-"]
                     for p in pre] or "No preflight check ran (the stack has no `roles`)."
    backup = data.get("backup") or {}
    starts = sorted(s["startedAt"] for s in data["steps"] if s["startedAt"])
    ends = sorted(s["finishedAt"] for s in data["steps"] if s["finishedAt"])
    window = _duration({"startedAt": starts[0], "finishedAt": ends[-1]}) if starts and ends else "-"
    engine = [["Steps ran (UTC)", f"{starts[0]} to {ends[-1]} ({window})" if starts and ends else "no timings recorded"],
              ["New Engine", data.get("engineUrl") or "not deployed"],
              ["Backup location", backup.get("location") or "no backup yet"],
              ["Backup SHA-256", backup.get("sha256") or "-"],
              ["Backed-up Engine version", backup.get("engineVersion") or "-"]]
    scores = [[h, str(s) if s is not None else "-", "ok" if isinstance(s, (int, float)) and s > 0 else "NOT READY"]
              for h, s in (data.get("nodeScores") or {}).items()] or "No hosted-engine nodes in this stack."
    drill = data.get("haDrill")
    drill_rows = ([[str(drill.get("fromNode")), str(drill.get("toNode")), f"{drill.get('seconds')} s"]]
                  if drill and drill.get("toNode") else "The drill is off for this stack (`haDrill.enabled`), or has "
                                                         "not run yet.")
    return [
        ("Result", ["", ""], engine),
        ("Preflight", ["check", "result", "what it checks", "what it found", "what it read"], preflight),
        ("Steps, in the procedure's order", ["#", "step", "procedure", "host", "what", "started (UTC)", "finished (UTC)", "took"],
         steps or "Nothing has run yet."),
        ("Hosted-engine nodes (`hosted-engine --vm-status` score)", ["host", "score", "state"], scores),
        ("High-availability drill", ["the Engine VM left", "taken by", "until good health"], drill_rows),
    ]


def to_markdown(data: dict) -> str:
    def cell(text):
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [f"# Migration report: site `{data['site']}`", ""]
    for title, header, body in _sections(data):
        lines += [f"## {title}", ""]
        if isinstance(body, str):
            lines += [body, ""]
            continue
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
        lines.append("")
    return "\n".join(lines)


def to_html(data: dict) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             f"<title>Migration report: {e(data['site'])}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}th{background:#eee}"
             "code{font-family:monospace}</style></head><body>",
             f"<h1>Migration report: site <code>{e(data['site'])}</code></h1>"]
    for title, header, body in _sections(data):
        parts.append(f"<h2>{e(title.replace('`', ''))}</h2>")
        if isinstance(body, str):
            parts.append(f"<p>{e(body.replace('`', ''))}</p>")
            continue
        parts.append("<table>")
        if any(header):
            parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in body]
        parts.append("</table>")
    parts.append(f"<p>Generated {e(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}.</p></body></html>")
    return "\n".join(parts) + "\n"


# ---- the plan as a picture -------------------------------------------------------------------------

def plan_graph(resources: list[dict]) -> dict:
    """{"nodes": [{id, label, kind, hosts, tier}], "edges": [(from, to)]} from preview steps' newState or state resources."""
    nodes, urns = [], {}
    for res in resources:
        kind = _kind(res.get("type", ""))
        if not kind:
            continue
        name = res["urn"].rsplit("::", 1)[-1]
        hosts, what = _where(kind, res.get("inputs", {}), addresses=False)
        urns[res["urn"]] = name
        nodes.append({"id": name, "kind": kind, "hosts": hosts, "what": what, "deps": res.get("dependencies") or []})
    edges = [(urns[d], n["id"]) for n in nodes for d in n["deps"] if d in urns]
    tier = {}
    for n in nodes:  # resources come in dependency order, so one pass gives each its longest path
        tier[n["id"]] = max([tier[a] + 1 for a, b in edges if b == n["id"] and a in tier], default=0)
    for n in nodes:
        n["tier"] = tier[n["id"]]
        del n["deps"]
    return {"nodes": nodes, "edges": edges}


def to_dot(graph: dict, title: str = "plan") -> str:
    q = json.dumps
    lines = [f"digraph {q(title)} {{", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    for n in graph["nodes"]:
        lines.append(f"  {q(n['id'])} [label={q(n['kind'] + chr(10) + n['id'] + chr(10) + n['hosts'])}];")
    lines += [f"  {q(a)} -> {q(b)};" for a, b in graph["edges"]]
    return "\n".join(lines + ["}"]) + "\n"


COLOURS = {"StorageExport": "#dbeafe", "MultipathOverride": "#e0e7ff", "EngineBackup": "#fef3c7",
           "HostedEngineDeployment": "#dcfce7", "HostedEngineNode": "#fce7f3", "HighAvailabilityDrill": "#e0e7ff"}


def to_svg(graph: dict, title: str = "plan") -> str:
    """A left-to-right picture: one column per tier (what can run together), arrows for dependencies."""
    e = html.escape
    width, height, gap_x, gap_y, margin, top = 330, 62, 60, 18, 20, 50
    columns: dict[int, list[dict]] = {}
    for n in graph["nodes"]:
        columns.setdefault(n["tier"], []).append(n)
    pos = {}
    for t, column in columns.items():
        for i, n in enumerate(column):
            pos[n["id"]] = (margin + t * (width + gap_x), top + i * (height + gap_y))
    total_w = margin * 2 + max(len(columns), 1) * (width + gap_x) - gap_x
    total_h = top + margin + max((len(c) for c in columns.values()), default=1) * (height + gap_y) - gap_y
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{margin}" y="28" font-size="16" font-weight="bold">{e(title)}</text>']
    for a, b in graph["edges"]:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        out.append(f'<path d="M {x1 + width} {y1 + height / 2} C {x1 + width + gap_x / 2} {y1 + height / 2}, '
                   f'{x2 - gap_x / 2} {y2 + height / 2}, {x2} {y2 + height / 2}" fill="none" stroke="#555" '
                   f'marker-end="url(#arrow)"/>')
    for n in graph["nodes"]:
        x, y = pos[n["id"]]
        out.append(f'<g><title>{e(n["what"])}</title>'
                   f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="8" fill="{COLOURS[n["kind"]]}" stroke="#333"/>'
                   f'<text x="{x + 10}" y="{y + 18}" font-weight="bold">{e(n["kind"])} ({STEP_KINDS[n["kind"]][1]})</text>'
                   f'<text x="{x + 10}" y="{y + 35}">{e(n["id"])}</text>'
                   f'<text x="{x + 10}" y="{y + 52}" fill="#555">on {e(n["hosts"])}</text></g>')
    return "\n".join(out + ["</svg>"]) + "\n"


# ---- the command line ------------------------------------------------------------------------------

def pulumi_json(*args: str, cwd: Path = PROJECT_DIR) -> dict:
    done = subprocess.run(["pulumi", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0 and not done.stdout.strip().startswith("{"):
        raise SystemExit(f"pulumi {' '.join(args)} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout or "{}")


def write_report(stack: str, out: Path, cwd: Path = PROJECT_DIR) -> tuple[Path, Path]:
    data = from_state(stack, pulumi_json("stack", "export", "--stack", stack, cwd=cwd),
                      pulumi_json("stack", "output", "--json", "--stack", stack, cwd=cwd))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(data))
    html_path = out.with_suffix(".html")
    html_path.write_text(to_html(data))
    return out, html_path


def write_graph(stack: str, out: Path, cwd: Path = PROJECT_DIR) -> tuple[Path, Path]:
    preview = pulumi_json("preview", "--json", "--stack", stack, cwd=cwd)
    resources = [s["newState"] for s in preview.get("steps", []) if s.get("newState")]
    if not any(_kind(r.get("type", "")) for r in resources):
        raise SystemExit(f"the preview of {stack} planned nothing:\n{json.dumps(preview.get('diagnostics', ''))}")
    graph = plan_graph(resources)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_svg(graph, f"Migration plan: site {stack}"))
    dot = out.with_suffix(".dot")
    dot.write_text(to_dot(graph, f"plan-{stack}"))
    return out, dot


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./run report", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("report", "graph"))
    parser.add_argument("--stack", default=os.environ.get("PULUMI_STACK", "lab"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.what == "report":
        paths = write_report(args.stack, args.out or PROJECT_DIR / ".lab" / "report.md")
    else:
        paths = write_graph(args.stack, args.out or PROJECT_DIR / "docs" / f"{args.stack}-plan.svg")
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
