"""When each step ran: `startedAt`/`finishedAt` (UTC, ISO 8601) added to a provider's outputs.

    @timed
    def create(self, props): ...

The migration report (components/report.py) reads them from the state to say how long each step took.
"""

from __future__ import annotations

import functools
import time

TIMING_OUTPUTS = {"startedAt": None, "finishedAt": None}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
