"""Repairs a stack checkpoint that a killed `pulumi up` left torn: `./run recover-state --stack NAME`.

Runbook step 9 starts with it (issue 17). A file:// backend (Pulumi's DIY backend on gocloud's
fileblob) writes each checkpoint to a temporary file and renames it into place, but rewrites the
blob's `.attrs` sidecar in place just before: a SIGKILL inside that write leaves the sidecar empty,
and every later command, `pulumi cancel` first, fails with "failed to load checkpoint: EOF". A
checkpoint cut short (a crash of the machine, a full disk) fails to load the same way. The backend
keeps the checkpoint as it was before each write as `<stack>.json.bak`, and after each finished
update a copy in `.pulumi/backups/<project>/<stack>/` (unless
PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS is set) and in `.pulumi/history/<project>/<stack>/`.
When the checkpoint is torn, the newest good copy is put back and the torn files are kept aside,
renamed; a good checkpoint is left as it is.

    python -m cli.checkpoint --stack NAME   # exit 0: good or repaired; 1: nothing good left; 2: refused
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import sys
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

import yaml

# The variants the CLI looks for, and writes with PULUMI_DIY_BACKEND_GZIP / _ZSTD.
SUFFIXES = (".json", ".json.gz", ".json.zst")
GZIP_MAGIC, ZSTD_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"
CHECKPOINT_VERSIONS = range(0, 5)  # what this CLI release reads (stack.UnmarshalVersionedCheckpoint...)
# The copies the backend keeps, in the order to prefer them when written at the same time.
KINDS = (".bak", "backup", "history")
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
STEP_9 = "go on with runbook step 9 (pulumi cancel, refresh --clear-pending-creates, up)"


class CannotCheck(Exception):
    """The checkpoint is in a form this tool cannot read; nothing was changed."""


class Refused(Exception):
    """A setting or a file stands in the way; the message names it and the next action."""


# --- Is this checkpoint good: its bytes in, a verdict out -------------------------------------------


@dataclass(frozen=True)
class Verdict:
    problem: str | None  # why the CLI cannot load it; None when it loads
    resources: int = 0  # as `pulumi up` counts them: providers left out
    time: str | None = None  # the time of the state it holds (its manifest)
    suffix: str = ".json"  # the file name ending its content calls for


def inspect(data: bytes, attrs: bytes | None, stack: str) -> Verdict:
    """Whether the CLI loads this checkpoint: its sidecar (None when absent) is read first, then the blob."""
    problem = sidecar_problem(attrs) if attrs is not None else None
    if problem:
        return Verdict(problem)
    try:
        text, suffix = decompressed(data)
    except ValueError as error:
        return Verdict(str(error))
    return deployment_verdict(text, stack, suffix)


def sidecar_problem(attrs: bytes) -> str | None:
    """fileblob decodes the sidecar as one JSON value before it opens the blob."""
    text = attrs.decode("utf-8", "replace").lstrip()
    if not text:
        return 'its .attrs sidecar is empty, so the CLI fails with "failed to load checkpoint: EOF"'
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as error:
        return f"its .attrs sidecar is not JSON ({error.msg})"
    return None if value is None or isinstance(value, dict) else "its .attrs sidecar is not a JSON object"


def decompressed(data: bytes) -> tuple[bytes, str]:
    """The CLI tells compression by the content's first bytes, not by the file's name."""
    if data.startswith(GZIP_MAGIC):
        try:
            return gzip.decompress(data), ".json.gz"
        except (EOFError, OSError, zlib.error) as error:
            raise ValueError(f"its gzip data is cut short or damaged ({error})") from None
    if data.startswith(ZSTD_MAGIC):
        try:
            import zstandard
        except ImportError:
            raise CannotCheck(
                "it is zstd-compressed (PULUMI_DIY_BACKEND_ZSTD) and this Python has no zstandard "
                "module: .venv/bin/pip install zstandard, then run this again"
            ) from None
        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(data), ".json.zst"
        except zstandard.ZstdError as error:
            raise ValueError(f"its zstd data is cut short or damaged ({error})") from None
    return data, ".json"


def deployment_verdict(text: bytes, stack: str, suffix: str) -> Verdict:
    """The checkpoint must be whole JSON, of a version the CLI reads, holding this stack's deployment."""
    if not text.strip():
        return Verdict("it is empty")
    try:
        top = json.loads(text)
    except ValueError as error:
        return Verdict(f"it is not whole JSON ({len(text)} bytes: {error})")
    version = top.get("version", 0) if isinstance(top, dict) else None
    if not isinstance(version, int) or version not in CHECKPOINT_VERSIONS:
        return Verdict(f"it is not a checkpoint this CLI reads (version {version!r})")
    checkpoint = top if version == 0 else top.get("checkpoint")  # version 0 is the unversioned layout
    if not isinstance(checkpoint, dict):
        return Verdict("it holds no checkpoint object")
    named = checkpoint.get("stack")
    if isinstance(named, str) and named and named.split("/")[-1] != stack:
        return Verdict(f"it is the checkpoint of stack {named}, not of {stack}")
    latest = checkpoint.get("latest")
    if latest is None:  # a stack that was created and never updated
        return Verdict(None, suffix=suffix)
    resources = (latest.get("resources") or []) if isinstance(latest, dict) else None
    if not isinstance(resources, list):
        return Verdict("its deployment is not an object with a list of resources")
    manifest = latest.get("manifest")
    time = manifest.get("time") if isinstance(manifest, dict) else None
    counted = [r for r in resources if not (isinstance(r, dict) and str(r.get("type")).startswith("pulumi:providers:"))]
    return Verdict(None, len(counted), re.sub(r"\.\d+", "", time) if isinstance(time, str) else None, suffix)


# --- Which copy to restore: the copies the backend keeps in, the one to put back out ----------------


@dataclass(frozen=True)
class Candidate:
    path: Path
    kind: str  # one of KINDS
    stamp: int  # when it was written, in ns: the one in its name, else its mtime


def restore_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Newest first. The .bak is copied from the checkpoint just before each write, so after a torn
    write it is the newest; backups and history are written at the end of each finished update."""
    return sorted(candidates, key=lambda c: (-c.stamp, KINDS.index(c.kind)))


def choose(inspected: Iterable[tuple[Candidate, Verdict]]) -> tuple[tuple[Candidate, Verdict] | None, list]:
    """The first good copy, in restore order, and the torn ones passed over; reads no further than needed."""
    passed = []
    for candidate, verdict in inspected:
        if verdict.problem is None:
            return (candidate, verdict), passed
        passed.append((candidate, verdict))
    return None, passed


# --- Where the checkpoint is: the CLI's settings in, the files out -----------------------------------


def backend_url(
    env: Mapping[str, str], project: Mapping, credentials: Mapping, credentials_file: Path
) -> tuple[str, str]:
    """The backend as the CLI picks it, and the setting it came from; none set is refused."""
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"], "PULUMI_BACKEND_URL"
    backend = project.get("backend")
    if isinstance(backend, dict) and backend.get("url"):
        return backend["url"], "backend.url in Pulumi.yaml"
    if credentials.get("current"):
        return credentials["current"], f"the current login in {credentials_file}"
    raise Refused(
        f"no backend is set (PULUMI_BACKEND_URL, backend.url in Pulumi.yaml, or a login in "
        f"{credentials_file}): export PULUMI_BACKEND_URL as when the stack was created (runbook step 2)"
    )


def state_root(url: str, cwd: Path, home: Path) -> Path | None:
    """The folder of a file:// backend (`~` and relative paths resolved as the CLI does), None for others."""
    if not url.startswith("file://"):
        return None
    path = url[len("file://") :].split("?", 1)[0]
    if path == "~" or path.startswith("~/"):
        path = str(home) + path[1:]
    return Path(os.path.abspath(cwd / path))


@dataclass(frozen=True)
class StackFiles:
    base: Path  # the checkpoint without its suffix: .pulumi/stacks/[<project>/]<stack>
    backups: Path
    history: Path


def stack_files(root: Path, layout_version: int, project: str | None, stack: str) -> StackFiles:
    """meta.yaml's version 1 scopes stacks by project; version 0 (or no meta.yaml) is the older flat layout."""
    scope = (project,) if layout_version >= 1 else ()
    dot = root / ".pulumi"
    return StackFiles(
        dot.joinpath("stacks", *scope, stack),
        dot.joinpath("backups", *scope, stack),
        dot.joinpath("history", *scope, stack),
    )


# --- Reading the backend ----------------------------------------------------------------------------


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".attrs")


def read_verdict(path: Path, stack: str) -> Verdict:
    attrs = sidecar(path)
    try:
        return inspect(path.read_bytes(), attrs.read_bytes() if attrs.is_file() else None, stack)
    except CannotCheck as error:
        raise CannotCheck(f"{path}: {error}") from None


def current_checkpoint(files: StackFiles) -> Path | None:
    """The variant the CLI reads: the most recently modified one."""
    found = [files.base.with_name(files.base.name + s) for s in SUFFIXES]
    found = [(p.stat().st_mtime_ns, i, p) for i, p in enumerate(found) if p.is_file()]
    return max(found)[2] if found else None


def kept_copies(files: StackFiles, stack: str) -> list[Candidate]:
    """Every copy of the checkpoint the backend keeps for the stack."""
    copies = [
        Candidate(p, ".bak", p.stat().st_mtime_ns)
        for p in (files.base.with_name(files.base.name + s + ".bak") for s in SUFFIXES)
        if p.is_file()
    ]
    patterns = {
        "backup": (files.backups, rf"{re.escape(stack)}\.(\d+)\.json(\.gz|\.zst)?"),
        "history": (files.history, rf"{re.escape(stack)}-(\d+)\.checkpoint\.json(\.gz|\.zst)?"),
    }
    for kind, (folder, pattern) in patterns.items():
        for path in sorted(folder.glob("*")) if folder.is_dir() else ():
            match = re.fullmatch(pattern, path.name)
            if match:
                copies.append(Candidate(path, kind, int(match.group(1))))
    return copies


def layout_version(root: Path) -> int:
    meta = root / ".pulumi" / "meta.yaml"
    if not meta.is_file():
        return 0
    try:
        return int(yaml.safe_load(meta.read_text())["version"])
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        raise Refused(
            f"{meta} is unreadable, so the stacks' layout is unknown: check that file "
            "(`version: 1` for project-scoped stacks)"
        ) from None


# --- The one place files move -------------------------------------------------------------------------


def restore(source: Path, target: Path, aside: list[tuple[Path, Path]]) -> None:
    """Renames each checkpoint variant aside (never deletes one), then puts a copy of source and its
    sidecar at target, each staged beside it and renamed into place, sidecar first, as fileblob does."""
    staged = [(sidecar(source), sidecar(target))] if sidecar(source).is_file() else []
    staged = [
        (shutil.copyfile(src, dst.with_name(dst.name + ".restoring")), dst) for src, dst in staged + [(source, target)]
    ]
    for old, new in aside:
        for one, other in ((old, new), (sidecar(old), sidecar(new))):
            if one.exists():
                os.rename(one, other)
    for temporary, final in staged:
        os.replace(temporary, final)


def aside_names(files: StackFiles, torn: Path, stamp: str) -> list[tuple[Path, Path]]:
    """Each existing variant and its new name: `.torn-<time>` for the torn one, `.stale-<time>` for others."""
    moves = []
    for variant in (files.base.with_name(files.base.name + s) for s in SUFFIXES):
        if variant.exists() or sidecar(variant).exists():
            label = "torn" if variant == torn else "stale"
            new, n = variant.with_name(f"{variant.name}.{label}-{stamp}"), 1
            while new.exists() or sidecar(new).exists():
                n += 1
                new = variant.with_name(f"{variant.name}.{label}-{stamp}-{n}")
            moves.append((variant, new))
    return moves


# --- What it says -----------------------------------------------------------------------------------


def when(candidate: Candidate, verdict: Verdict) -> str:
    stamp = datetime.fromtimestamp(candidate.stamp / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"state of {verdict.time}" if verdict.time else f"written {stamp}"


def resources(verdict: Verdict) -> str:
    return f"{verdict.resources} resource{'' if verdict.resources == 1 else 's'}"


def passed_over(passed: list, files: StackFiles) -> str:
    if not passed:
        return f"the backend keeps no copy (no .bak, nothing in {files.backups} or {files.history})"
    return "; ".join(f"{c.path.name}: {v.problem}" for c, v in passed)


# --- The command --------------------------------------------------------------------------------------


def find_project(cwd: Path) -> Path | None:
    """Pulumi.yaml in the folder or the nearest one above it, as the CLI looks for it."""
    for folder in (cwd, *cwd.parents):
        for name in ("Pulumi.yaml", "Pulumi.yml"):
            if (folder / name).is_file():
                return folder / name
    return None


def read_project(path: Path | None) -> dict:
    try:
        project = yaml.safe_load(path.read_text()) if path else {}
    except yaml.YAMLError as error:
        raise Refused(f"{path} is not YAML ({error}): fix it, as every pulumi command needs it") from None
    return project if isinstance(project, dict) else {}


def credentials_file(env: Mapping[str, str]) -> Path:
    folder = (
        env.get("PULUMI_CREDENTIALS_PATH")
        or env.get("PULUMI_HOME")
        or str(Path(env.get("HOME") or Path.home()) / ".pulumi")
    )
    return Path(folder) / "credentials.json"


def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def parse_stack(stack_arg: str, project_name: str | None) -> tuple[str | None, str]:
    """NAME, organization/NAME or organization/PROJECT/NAME, as `--stack` takes them."""
    parts = stack_arg.split("/")
    if len(parts) > 3 or not all(NAME.match(p) for p in parts):
        raise Refused(f"--stack {stack_arg}: expected NAME or organization/PROJECT/NAME")
    return (parts[1] if len(parts) == 3 else project_name), parts[-1]


def recover(stack_arg: str, env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    """Checks the stack's checkpoint and repairs it if torn: the exit status and what to tell."""
    project = read_project(find_project(cwd))
    project_name, stack = parse_stack(stack_arg, project.get("name"))
    creds = credentials_file(env)
    url, source = backend_url(env, project, read_json(creds), creds)
    root = state_root(url, cwd, Path(env.get("HOME") or Path.home()))
    if root is None:
        return 0, (
            f"{url} ({source}) is not a file:// backend: it keeps its own transactions, so there is no "
            f"checkpoint file to repair; {STEP_9}."
        )
    version = layout_version(root)
    if version >= 1 and not project_name:
        raise Refused(
            f"no Pulumi.yaml in {cwd} or above it names the project: run this in the project, or pass "
            "--stack organization/PROJECT/NAME"
        )
    files = stack_files(root, version, project_name, stack)
    current = current_checkpoint(files)
    if current is None:
        raise Refused(
            f"no checkpoint of stack {stack} in {url} ({source}; looked for {files.base}.json): "
            f"check --stack and the backend setting"
        )
    verdict = read_verdict(current, stack)
    if verdict.problem is None:
        return 0, f"{current} loads ({resources(verdict)}); nothing to repair, {STEP_9}."
    order = restore_order(kept_copies(files, stack))
    chosen, passed = choose((c, read_verdict(c.path, stack)) for c in order)
    found = f"{current} is torn: {verdict.problem}."
    if chosen is None:
        return 1, (
            f"{found} No good copy is left ({passed_over(passed, files)}); nothing changed.\n"
            f"With an export of the stack (runbook step 7): move {current.name} and its .attrs aside, then "
            f"`pulumi stack init {stack_arg}` and `pulumi stack import --stack {stack_arg} --file EXPORT.json`."
        )
    candidate, good = chosen
    target = files.base.with_name(files.base.name + good.suffix)
    aside = aside_names(files, current, datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    restore(candidate.path, target, aside)
    kept = ", ".join(new.name for _, new in aside)
    return 0, (
        f"{found} Kept it aside as {kept}.\n"
        f"Restored {candidate.path} ({when(candidate, good)}, {resources(good)}) as {target.name}; "
        f"{STEP_9}: up adopts what the killed run did after that state (each create reads the site first)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run recover-state", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack whose checkpoint to check (and repair)")
    args = parser.parse_args(argv)
    try:
        status, message = recover(args.stack, os.environ, Path.cwd())
    except (Refused, CannotCheck) as error:
        print(f"recover-state: {error}; nothing changed", file=sys.stderr)
        return 2
    print(message, file=sys.stdout if status == 0 else sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
