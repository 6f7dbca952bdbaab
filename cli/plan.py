"""The plan as a picture: `./run plan [STACK]` writes docs/<stack>-plan.svg and .dot from a preview.

The resources of `pulumi preview --json` (or of the state) are drawn with their dependencies, one column
per tier (what may run together), so the picture reads in the procedure's order; no graphviz is needed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from pathlib import Path

from cli.report import PROJECT_DIR, pulumi_json
from components import report


def plan_graph(resources: list[dict]) -> dict:
    """{"nodes": [{id, label, kind, hosts, tier}], "edges": [(from, to)]} from preview steps' newState or state resources."""
    nodes, urns = [], {}
    for res in resources:
        kind = report.kind_of(res.get("type", ""))
        if not kind:
            continue
        name = res["urn"].rsplit("::", 1)[-1]
        hosts, what = report.where(kind, res.get("inputs", {}), addresses=False)
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


COLOURS = {
    "StorageExport": "#dbeafe",
    "MultipathOverride": "#e0e7ff",
    "DeploymentHostPackages": "#ecfccb",
    "EngineBackup": "#fef3c7",
    "AddressHandover": "#fde68a",
    "HostedEngineDeployment": "#dcfce7",
    "HostedEngineNode": "#fce7f3",
    "HighAvailabilityDrill": "#e0e7ff",
    "MigrationEvidence": "#f1f5f9",
    "Decommission": "#fee2e2",
}


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
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{margin}" y="28" font-size="16" font-weight="bold">{e(title)}</text>',
    ]
    for a, b in graph["edges"]:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        out.append(
            f'<path d="M {x1 + width} {y1 + height / 2} C {x1 + width + gap_x / 2} {y1 + height / 2}, '
            f'{x2 - gap_x / 2} {y2 + height / 2}, {x2} {y2 + height / 2}" fill="none" stroke="#555" '
            f'marker-end="url(#arrow)"/>'
        )
    for n in graph["nodes"]:
        x, y = pos[n["id"]]
        out.append(
            f"<g><title>{e(n['what'])}</title>"
            f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="8" fill="{COLOURS[n["kind"]]}" stroke="#333"/>'
            f'<text x="{x + 10}" y="{y + 18}" font-weight="bold">{e(n["kind"])} ({report.STEP_KINDS[n["kind"]][1]})</text>'
            f'<text x="{x + 10}" y="{y + 35}">{e(n["id"])}</text>'
            f'<text x="{x + 10}" y="{y + 52}" fill="#555">on {e(n["hosts"])}</text></g>'
        )
    return "\n".join(out + ["</svg>"]) + "\n"


def write_graph(stack: str, out: Path, cwd: Path = PROJECT_DIR) -> tuple[Path, Path]:
    preview = pulumi_json("preview", "--json", "--stack", stack, cwd=cwd)
    resources = [s["newState"] for s in preview.get("steps", []) if s.get("newState")]
    if not any(report.kind_of(r.get("type", "")) for r in resources):
        raise SystemExit(f"the preview of {stack} planned nothing:\n{json.dumps(preview.get('diagnostics', ''))}")
    graph = plan_graph(resources)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_svg(graph, f"Migration plan: site {stack}"))
    dot = out.with_suffix(".dot")
    dot.write_text(to_dot(graph, f"plan-{stack}"))
    return out, dot


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./run plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default=os.environ.get("PULUMI_STACK", "lab"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    for path in write_graph(args.stack, args.out or PROJECT_DIR / "docs" / f"{args.stack}-plan.svg"):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
