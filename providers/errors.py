"""The one error a step of the procedure raises when it cannot go on.

Every message has the same parts, so an administrator reads each alike: the host, what went wrong (the
command, when one failed, and what it printed) and the next step to take.
"""

from __future__ import annotations


class StepError(Exception):
    """A step that cannot go on; `host`, `command`, `output` and `next_step` stay on it for callers."""

    def __init__(self, host: str, problem: str, next_step: str, command: str = "", output: str = ""):
        self.host, self.problem, self.next_step, self.command, self.output = host, problem, next_step, command, output
        what = f"`{command}` {problem}" if command else problem
        said = f":\n{output}\n" if output else ". "
        super().__init__(f"{host}: {what}{said}{next_step}")
