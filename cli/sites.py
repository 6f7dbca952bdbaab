"""Many sites at once: every site stack previewed in parallel, then migrated, several sites at a time.

    ./run sites preview [--json] [STACK...]        # a readiness table (or JSON); exit 1 if a site is not ready
    ./run sites up [--parallel-sites N] STACK...   # `pulumi up` of N sites at a time (1: in the order given);
                                                   # a failing site stops nothing else; an outcome table at the end

The stacks are this project's (`stacks/Pulumi.<stack>.yaml`, all but `example` when none are named), run
through the automation API on whatever backend Pulumi is configured with (`PULUMI_BACKEND_URL` or
`pulumi login`; `./run` uses the lab's `.pulumi-state/` unless PULUMI_BACKEND_URL is set). A site is
ready when its preview succeeds: the configuration checks and the preflight (components/preflight/)
found no problem. Errors count the problems listed (each configuration or preflight problem is one),
warnings count the warnings Pulumi printed, and "to create" the resources the plan adds.
After each successful `up`, the site's report is written to `.lab/reports/<stack>.md` and `.html`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pulumi import automation as auto

from cli.report import write_report

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The summary lines of components/site_config.ConfigError and components/preflight.PreflightError.
PROBLEM_HEADERS = ("the stack configuration has problems:", "problem(s) on the site")
NOISE = ("an unhandled error occurred", "preview failed", "update failed")
# Previews are CPU-bound (the CLI, the program, the preflight's reads): more at once than twice the cores only
# makes them contend.
PREVIEWS_AT_ONCE = 2 * (os.cpu_count() or 1)


@dataclass
class Readiness:
    site: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    to_create: int | None = None
    failure: str | None = None  # why the preview could not run at all (no stack, backend, ...)

    @property
    def ready(self) -> bool:
        return not self.errors and self.failure is None


def site_stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")]
        for p in (project_dir / "stacks").glob("Pulumi.*.yaml")
        if p.name != "Pulumi.example.yaml"
    )


def _problems(message: str) -> list[str]:
    """The listed problems of a config or preflight error, one per `  - ` item; else the message itself."""
    text = re.sub(r"^(error|warning): ", "", message.strip())
    if any(h in text.splitlines()[0] for h in PROBLEM_HEADERS):
        items, current = [], None
        for line in text.splitlines()[1:]:
            if line.startswith("  - "):
                current = line[4:]
                items.append(current)
            elif current is not None and line.strip():
                items[-1] += " " + line.strip()
        return items or [text]
    return [text]


def _select(name: str, project_dir: Path) -> auto.Stack:
    workspace = auto.LocalWorkspace(work_dir=str(project_dir))
    return auto.Stack.select(name, workspace)


def preview_site(name: str, project_dir: Path = PROJECT_DIR) -> Readiness:
    result = Readiness(name)
    lock = threading.Lock()

    def on_event(event: auto.EngineEvent):
        diag = event.diagnostic_event
        if diag is None or diag.ephemeral:
            return
        message = diag.message.strip()
        if any(n in message for n in NOISE):
            return
        with lock:
            if diag.severity == "error":
                result.errors += [p for p in _problems(message) if p not in result.errors]
            elif diag.severity == "warning":
                text = re.sub(r"^warning: ", "", message)
                if text not in result.warnings:
                    result.warnings.append(text)

    try:
        stack = _select(name, project_dir)
    except auto.errors.CommandError as err:
        result.failure = f"no such stack in this backend (create it with `pulumi stack init {name}`): {_last_line(err)}"
        return result
    try:
        preview = stack.preview(on_event=on_event)
        result.to_create = preview.change_summary.get("create", 0)
    except auto.errors.CommandError as err:
        if not result.errors:
            result.failure = _last_line(err)
    return result


def _last_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip() and "stdout:" not in line]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["unknown error"])[-1]


def preview_all(names: list[str], project_dir: Path = PROJECT_DIR) -> list[Readiness]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(PREVIEWS_AT_ONCE, len(names)))) as pool:
        return list(pool.map(lambda n: preview_site(n, project_dir), names))


def table(rows: list[Readiness]) -> str:
    header = ("SITE", "READY", "ERRORS", "WARNINGS", "TO CREATE")
    body = [
        (
            r.site,
            "yes" if r.ready else "NO",
            str(len(r.errors)),
            str(len(r.warnings)),
            "-" if r.to_create is None else str(r.to_create),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *body]]
    details = []
    for r in rows:
        for problem in ([r.failure] if r.failure else []) + r.errors:
            details.append(f"{r.site}: error: {problem}")
        for warning in r.warnings:
            details.append(f"{r.site}: warning: {warning}")
    return "\n".join(lines + ([""] + details if details else [])) + "\n"


@dataclass
class Outcome:
    site: str
    migrated: bool
    detail: str


def readiness_json(rows: list[Readiness]) -> str:
    """The readiness table as JSON: one object per site, with its problems and warnings in full."""
    return (
        json.dumps(
            [
                {
                    "site": r.site,
                    "ready": r.ready,
                    "errors": ([r.failure] if r.failure else []) + r.errors,
                    "warnings": r.warnings,
                    "toCreate": r.to_create,
                }
                for r in rows
            ],
            indent=2,
        )
        + "\n"
    )


def up_site(name: str, project_dir: Path, reports: Path, out) -> Outcome:
    """One site's `pulumi up` through the automation API, its output prefixed with its name, then its report."""
    print(f"==> {name}: pulumi up", file=out, flush=True)
    try:
        _select(name, project_dir).up(on_output=lambda line: print(f"[{name}] {line}", file=out, flush=True))
    except auto.errors.CommandError as err:
        print(f"==> {name}: FAILED: {_last_line(err)}", file=out, flush=True)
        return Outcome(name, False, _last_line(err))
    md, page = write_report(name, reports / f"{name}.md", cwd=project_dir)
    print(f"==> {name}: done; report {md} and {page}", file=out, flush=True)
    return Outcome(name, True, f"report {md}")


def outcome_table(outcomes: list[Outcome]) -> str:
    rows = [("SITE", "OUTCOME", "DETAIL")] + [
        (o.site, "migrated" if o.migrated else "FAILED", o.detail) for o in outcomes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}".rstrip() for a, b, c in rows) + "\n"


def up_sites(
    names: list[str], project_dir: Path = PROJECT_DIR, reports: Path | None = None, out=sys.stdout, parallel: int = 1
) -> int:
    """Independent sites, PARALLEL at a time: each has its own stack and lock, so one failing stops no other."""
    reports = reports or project_dir / ".lab" / "reports"
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        outcomes = list(pool.map(lambda n: up_site(n, project_dir, reports, out), names))
    out.write(outcome_table(outcomes))
    return 0 if all(o.migrated for o in outcomes) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./run sites", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    preview = sub.add_parser("preview", help="preview every site stack in parallel and print a readiness table")
    preview.add_argument("--json", action="store_true", help="the readiness as JSON, for scripts")
    preview.add_argument("stacks", nargs="*")
    up = sub.add_parser("up", help="pulumi up of the sites, --parallel-sites at a time")
    up.add_argument("--parallel-sites", type=int, default=1, metavar="N", help="sites migrated at once (default 1)")
    up.add_argument("stacks", nargs="+")
    up.add_argument("--reports", type=Path, help="where each site's report goes (default .lab/reports/)")
    args = parser.parse_args(argv)
    if args.command == "preview":
        names = args.stacks or site_stacks()
        if not names:
            print("no site stacks: create stacks/Pulumi.<site>.yaml (see README.md)", file=sys.stderr)
            return 2
        rows = preview_all(names)
        sys.stdout.write(readiness_json(rows) if args.json else table(rows))
        return 0 if all(r.ready for r in rows) else 1
    if args.parallel_sites < 1:
        parser.error("--parallel-sites must be 1 or more")
    return up_sites(args.stacks, reports=args.reports, parallel=args.parallel_sites)


if __name__ == "__main__":
    sys.exit(main())
