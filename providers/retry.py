"""The one retry policy of the transports: exponential backoff for failures that may pass.

SSH (providers/ssh.py) retries refused, reset, timed-out and dropped connections, and reads cut by a
drop; the Engine API (providers/engine_api.py) retries GETs that answer 5xx, time out or cannot connect.
Neither ever sends a change twice. Each reads its numbers from the environment with its own prefix:
PREFIX_ATTEMPTS, PREFIX_FIRST_DELAY (doubling up to PREFIX_MAX_DELAY) and PREFIX_RETRY_SECONDS (no new
try starts after that much time).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try again; the defaults are SSH's (5 tries, 0.5 s doubling up to 15 s,
    60 s in all)."""

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 15.0
    total_seconds: float = 60.0

    @classmethod
    def from_env(cls, prefix: str, base: RetryPolicy | None = None) -> RetryPolicy:
        """`base` (default: SSH's) with what the PREFIX_* environment variables set."""

        def get(name, default, kind):
            value = os.environ.get(prefix + name)
            return kind(value) if value else default

        base = base or cls()
        return replace(
            base,
            attempts=get("ATTEMPTS", base.attempts, int),
            first_delay=get("FIRST_DELAY", base.first_delay, float),
            max_delay=get("MAX_DELAY", base.max_delay, float),
            total_seconds=get("RETRY_SECONDS", base.total_seconds, float),
        )

    def pauses(self, deadline: float | None = None):
        """The pause before each retry, as long as the policy allows another one."""
        deadline = deadline or time.monotonic() + self.total_seconds
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            if time.monotonic() + delay > deadline:
                return
            yield delay
            delay = min(delay * 2, self.max_delay)
