"""The migration report of a stack, from its state: `./run report [--stack S] [--out FILE.md]`.

Writes the Markdown (default `.lab/report.md`) and the HTML beside it, from `pulumi stack export` and
`pulumi stack output --json`, rendered by components/report.py as the program's own `report` output is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from components import report

PROJECT_DIR = Path(__file__).resolve().parent.parent


def pulumi_json(*args: str, cwd: Path = PROJECT_DIR) -> dict:
    """What `pulumi ARGS` printed as JSON; a failure that printed none ends the command with its error."""
    done = subprocess.run(["pulumi", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0 and not done.stdout.strip().startswith("{"):
        raise SystemExit(f"pulumi {' '.join(args)} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout or "{}")


def write_report(stack: str, out: Path, cwd: Path = PROJECT_DIR) -> tuple[Path, Path]:
    data = report.from_state(
        stack,
        pulumi_json("stack", "export", "--stack", stack, cwd=cwd),
        pulumi_json("stack", "output", "--json", "--stack", stack, cwd=cwd),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.to_markdown(data))
    html_path = out.with_suffix(".html")
    html_path.write_text(report.to_html(data))
    return out, html_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./run report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default=os.environ.get("PULUMI_STACK", "lab"))
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / ".lab" / "report.md")
    args = parser.parse_args(argv)
    for path in write_report(args.stack, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
