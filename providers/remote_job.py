"""Long remote steps as transient systemd units, so that a later run finds them again.

A step that takes minutes or hours (the Engine update, engine-setup, engine-backup, the deploy) must
not die with the SSH session or the `pulumi up` that started it, and a resumed run must never start
it a second time. So it runs under `systemd-run` with a fixed unit name, its output goes to a file on
the host, and systemd keeps the unit after it ended (RemainAfterExit=yes) until the provider clears
it: a create looks for the unit first, follows it while it runs, and takes the result of one that
ended instead of starting the step again.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field

from providers.progress import say
from providers.ssh import Connection

OUTPUT_DIRECTORY = "/var/log/ovirt-she-migration"
PROPERTIES = "LoadState,ActiveState,SubState,Result,ExecMainStatus"


@dataclass(frozen=True)
class Job:
    """One long step: its unit's name and the file its output goes to."""

    unit: str
    output: str = ""

    @property
    def output_file(self) -> str:
        return self.output or posixpath.join(OUTPUT_DIRECTORY, self.unit + ".log")


@dataclass
class Ended:
    """How a job's unit ended, with the output it wrote."""

    state: dict
    output: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.state.get("ActiveState") == "active"

    @property
    def exit_status(self) -> str:
        return self.state.get("ExecMainStatus", "?")

    @property
    def how(self) -> str:
        """How it ended, in words: systemd gives the signal's number as ExecMainStatus when Result=signal."""
        if self.state.get("Result") == "signal":
            return f"killed by signal {self.exit_status}"
        return f"exit status {self.exit_status}"

    def last_lines(self, count: int = 15) -> str:
        return "\n".join(self.output[-count:])


def progress(host: str):
    """Shows each line of a job's output, with its host's name, under the resource whose step it is."""

    def show(line: str) -> None:
        say(f"{host}: {line}")

    return show


def unit_state(show: str) -> dict:
    """`systemctl show UNIT -p ...` as a dict."""
    return dict(line.split("=", 1) for line in show.splitlines() if "=" in line)


def show(job: Job) -> tuple[str, ...]:
    """The read of the job's unit, whose output `unit_state` parses."""
    return ("systemctl", "show", job.unit, f"--property={PROPERTIES}")


def state(connection: Connection, job: Job) -> dict:
    """The job's unit: running, ended (kept by RemainAfterExit) or failed; LoadState not-found if none."""
    return unit_state(connection.run(*show(job)).stdout)


def loaded(unit: dict) -> bool:
    return unit.get("LoadState") == "loaded"


def running(unit: dict) -> bool:
    return unit.get("SubState") == "running"


def start(connection: Connection, job: Job, argv: list[str]) -> None:
    """Starts the step as the job's unit, with standard input /dev/null and its output in a fresh file."""
    connection.run("mkdir", "-p", posixpath.dirname(job.output_file))
    connection.run("rm", "-f", "--", job.output_file)
    connection.run(
        "systemd-run",
        f"--unit={job.unit}",
        "--property=RemainAfterExit=yes",
        f"--property=StandardOutput=file:{job.output_file}",
        "--quiet",
        "--",
        *argv,
    )


def new_lines(text: str, finished: bool) -> list[str]:
    """The whole lines of a read of the output; the last, unfinished one waits for the next read."""
    lines = text.split("\n")
    return [line for line in lines if line] if finished else lines[:-1]


def follow(connection: Connection, job: Job, poll: float, on_line=None, watch=None) -> Ended:
    """Reads the job's output as it comes until its unit has ended. `on_line(line)` sees each line;
    `watch(seen)` runs after each read while the job still runs, and may raise to stop following (the
    job goes on). Only reads are sent, so a dropped session re-runs them and nothing else."""
    seen: list[str] = []
    while True:
        unit = state(connection, job)
        finished = not running(unit)
        text = connection.run("tail", "-n", f"+{len(seen) + 1}", job.output_file, check=False).stdout
        for line in new_lines(text, finished):
            if on_line:
                on_line(line)
            seen.append(line)
        if finished:
            return Ended(unit, seen)
        if watch:
            watch(seen)
        time.sleep(poll)


def clear(connection: Connection, job: Job, unit: dict | None = None) -> None:
    """Unloads the ended unit, so that the next run of the step starts afresh; `unit` is its state when
    the caller has just read it (an Ended's), else it is read."""
    unit = state(connection, job) if unit is None else unit
    if loaded(unit) and not running(unit):
        connection.run("systemctl", "reset-failed" if unit.get("ActiveState") == "failed" else "stop", job.unit)


def run(connection: Connection, job: Job, argv: list[str], poll: float, on_line=None, watch=None) -> Ended:
    """The step's result: followed from its start, or adopted from a killed run (still running or
    ended) instead of being started again."""
    if not loaded(state(connection, job)):
        start(connection, job, argv)
    return follow(connection, job, poll, on_line, watch)
