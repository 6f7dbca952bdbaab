"""When each step ran: `startedAt`/`finishedAt` (UTC, ISO 8601, to the millisecond) added to a provider's outputs.

    @timed
    def create(self, props): ...

The migration report (components/report.py) reads them from the state to say how long each step took; a provider
whose steps fall inside the outage window also records each of them (`Steps`, the output `steps`), from which
components/outage_window.py measures the window.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime

TIMING_OUTPUTS = {"startedAt": None, "finishedAt": None}


def now() -> str:
    """To the millisecond: on the lab a step takes a fraction of a second, and the window is measured from these."""
    moment = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1000):03d}Z"


def seconds_between(start: str | None, end: str | None) -> float | None:
    """The seconds from one stamp to another (with or without milliseconds), None when either is missing."""
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


class Steps:
    """The steps a create ran, each `{"step", "startedAt", "finishedAt"}` in the order they ran."""

    def __init__(self):
        self.ran: list[dict] = []

    def run(self, step: str, action):
        started = now()
        result = action()
        self.ran.append({"step": step, "startedAt": started, "finishedAt": now()})
        return result


def timed(method):
    """Wraps a provider's create/update so its result's outputs carry when it started and finished."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        started = now()
        result = method(self, *args, **kwargs)
        if getattr(result, "outs", None) is not None:
            result.outs = {**result.outs, "startedAt": started, "finishedAt": now()}
        return result

    return wrapper
