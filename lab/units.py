"""Transient services, as `systemd-run` makes them (systemd 239, EL8): a command that runs on its own,
outliving the SSH session that started it, with a state `systemctl show` reports.

A unit's state is kept in the host's state (`units`), so a lab restart finds it; a unit that was
running when the lab stopped is found failed (its process died with the lab, as with a host crash).
A unit's process does not hold the host while it waits (`Context.sleep`), so the host's other
sessions run their commands meanwhile, as on a real host.
"""

import sys
import threading
import time
import traceback

# systemd's unit properties (`systemctl show`) for what the lab models
RUNNING = {"ActiveState": "active", "SubState": "running", "Result": "success"}
EXITED = {"ActiveState": "active", "SubState": "exited", "Result": "success"}
FAILED = {"ActiveState": "failed", "SubState": "failed"}
UNKNOWN = {
    "ActiveState": "inactive",
    "SubState": "dead",
    "Result": "success",
    "ExecMainStatus": "0",
    "LoadState": "not-found",
}
SIGPIPE, SIGTERM, SIGKILL = 13, 15, 9


class Stopped(Exception):
    """`systemctl stop` of the unit whose process this is: it ends at its next wait."""


def load(host):
    """Units found in a saved state: those that were running died with the previous lab process."""
    for unit in host.units.values():
        if unit["properties"]["SubState"] == "running":
            unit["properties"] = {**FAILED, "Result": "signal", "ExecMainStatus": str(SIGKILL)}


def properties(host, name):
    unit = host.units.get(name)
    if unit is None:
        return dict(UNKNOWN)
    return {"LoadState": "loaded", "ExecMainStatus": "0", **unit["properties"]}


def create(host, name, argv, settings, collect):
    """Registers the unit as running; None if a unit of that name is already loaded."""
    if name in host.units:
        return None
    host.units[name] = {
        "argv": list(argv),
        "settings": dict(settings),
        "collect": collect,
        "started": time.time(),
        "properties": dict(RUNNING),
    }
    host.stopping.pop(name, None)
    return host.units[name]


def finish(host, name, status, signal=None):
    """The unit's process ended: what systemd keeps of it (RemainAfterExit=, CollectMode= via --collect)."""
    unit = host.units[name]
    if signal is not None:
        unit["properties"] = {**FAILED, "Result": "signal", "ExecMainStatus": str(signal)}
    elif status == 0:
        unit["properties"] = {**EXITED, "ExecMainStatus": "0"}
    else:
        unit["properties"] = {**FAILED, "Result": "exit-code", "ExecMainStatus": str(status)}
    failed = unit["properties"]["ActiveState"] == "failed"
    remain = unit["settings"].get("RemainAfterExit") in ("yes", "true", "1")
    if signal == SIGTERM or (failed and unit["collect"]) or (not failed and not remain):
        del host.units[name]  # stopped on request, collected, or a plain service that ended well
    host.save()


def stop(host, name):
    """`systemctl stop`: a running unit's process is told to end; an exited or failed one is unloaded."""
    unit = host.units.get(name)
    if unit is None:
        return
    if unit["properties"]["SubState"] == "running":
        host.stopping[name] = True
        with host.idle:
            host.idle.notify_all()
    else:
        del host.units[name]


def reset_failed(host, name):
    unit = host.units.get(name)
    if unit is not None and unit["properties"]["ActiveState"] == "failed":
        del host.units[name]


def start_in_background(host, name, run):
    """Runs `run()` (returning the exit status) as the unit's process in a thread of its own."""

    def body():
        status, signal = 1, None
        try:
            status = run()
        except Stopped:
            signal = SIGTERM
        except Exception:  # the lab's own failure: the process died, and the lab's log says why
            print(f"lab: unit {name} on {host.name} died:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            signal = SIGKILL
        with host.lock:
            finish(host, name, status, signal)

    threading.Thread(target=body, name=f"unit-{host.name}-{name}", daemon=True).start()
