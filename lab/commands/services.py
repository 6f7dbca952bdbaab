"""systemctl (systemd exit codes) and the multipathd client."""

import time

from lab import multipath
from lab import units as lab_units
from lab.commands import command
from lab.transport.shell import Unsupported

# systemctl(1) EXIT STATUS and LSB codes used by status/is-active.
EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_NO_UNIT, EXIT_NOT_FOUND = 1, 3, 4, 5
_VERBS = (
    "start",
    "stop",
    "restart",
    "reload",
    "try-restart",
    "enable",
    "disable",
    "mask",
    "unmask",
    "status",
    "is-active",
    "is-enabled",
    "daemon-reload",
    "show",
    "reset-failed",
    "poweroff",
)
MASK_LINK = "/etc/systemd/system/{}.service"


def _unit(name):
    if name.endswith(".service"):
        return name[: -len(".service")]
    if "." in name:
        raise Unsupported(f"systemctl: only .service units are implemented: {name}")
    return name


@command("systemctl")
def systemctl(ctx):
    opts, args = ctx.opts("qp:", ["quiet", "now", "no-pager", "full", "property=", "value"])
    flags = {o for o, _ in opts}
    wanted = [name for o, v in opts if o in ("-p", "--property") for name in v.split(",")]
    if not args or args[0] not in _VERBS:
        raise Unsupported(f"systemctl: verb not implemented: {args[0] if args else '(none)'}")
    verb, units = args[0], [_unit(u) for u in args[1:]]
    if verb == "daemon-reload":
        return 0
    if verb == "poweroff":
        return _poweroff(ctx)
    if not units:
        ctx.error("Too few arguments.")
        return EXIT_FAILURE
    quiet = bool(flags & {"-q", "--quiet"})
    if verb == "show":
        return _show(ctx, units, wanted, "--value" in flags)
    handler = _HANDLERS[verb]
    statuses = [handler(ctx, unit, quiet, "--now" in flags) for unit in units]
    if verb == "is-active":
        return 0 if 0 in statuses else EXIT_NOT_RUNNING
    return max(statuses)


def _show(ctx, names, wanted, value_only):
    """`systemctl show UNIT [-p NAME,...] [--value]`: the unit's properties as NAME=VALUE lines."""
    for unit in names:
        found = _properties(ctx.host, unit)
        for name in wanted or sorted(found):
            value = found.get(name, "")
            ctx.print(value if value_only else f"{name}={value}")
    return 0


def _properties(host, unit):
    service = host.services.get(unit)
    if unit in host.units or service is None:
        return lab_units.properties(host, unit)
    return {
        "LoadState": "masked" if service.get("masked") else "loaded",
        "ActiveState": "active" if service["active"] else "inactive",
        "SubState": "running" if service["active"] else "dead",
        "Result": "success",
        "ExecMainStatus": "0",
        "UnitFileState": _file_state(service),
    }


def _file_state(service):
    return "masked" if service.get("masked") else "enabled" if service["enabled"] else "disabled"


def _reset_failed(ctx, unit, quiet, now, verb):
    lab_units.reset_failed(ctx.host, unit)
    return 0


def _job(ctx, unit, quiet, now, verb):
    """start/stop/restart/reload/try-restart: a job on the unit, as systemctl queues it."""
    if unit in ctx.host.units and verb == "stop":
        lab_units.stop(ctx.host, unit)
        return 0
    service = ctx.host.services.get(unit)
    if service is None:
        how = "not loaded" if verb == "stop" else "not found"
        ctx.error(f"Failed to {verb} {unit}.service: Unit {unit}.service {how}.")
        return EXIT_NOT_FOUND
    if verb == "reload" and not service["active"]:
        ctx.error(f"{unit}.service is not active, cannot reload.")
        return EXIT_FAILURE
    if verb == "try-restart" and not service["active"]:
        return 0
    if service.get("masked") and verb in ("start", "restart", "try-restart", "reload"):
        ctx.error(f"Failed to {verb} {unit}.service: Unit {unit}.service is masked.")
        return EXIT_FAILURE
    ctx.host.service_event(unit, "restart" if verb == "try-restart" else verb)
    return 0


def _mask(ctx, unit, quiet, now, verb):
    """mask links the unit file to /dev/null so nothing starts it, enable included; unmask removes the link."""
    service = ctx.host.services.get(unit)
    if service is None:
        ctx.error(f"Failed to {verb} unit: Unit file {unit}.service does not exist.")
        return EXIT_FAILURE
    if verb == "mask" and not service.get("masked"):
        ctx.error(f"Created symlink {MASK_LINK.format(unit)} \u2192 /dev/null.")
    elif verb == "unmask" and service.get("masked"):
        ctx.error(f"Removed {MASK_LINK.format(unit)}.")
    ctx.host.service_event(unit, verb)
    if now and verb == "mask":
        return _job(ctx, unit, quiet, False, "stop")
    return 0


def _poweroff(ctx):
    """The machine shuts down: the command returns, then every session drops and SSH answers no more."""
    ctx.host.power_off()
    return 0


def _enable(ctx, unit, quiet, now, verb):
    service = ctx.host.services.get(unit)
    if service is None:
        ctx.error(f"Failed to {verb} unit: Unit file {unit}.service does not exist.")
        return EXIT_FAILURE
    if service.get("masked") and verb == "enable":
        ctx.error(f"Failed to enable unit: Unit file {MASK_LINK.format(unit)} is masked.")
        return EXIT_FAILURE
    link = f"/etc/systemd/system/multi-user.target.wants/{unit}.service"
    if verb == "enable" and not service["enabled"]:
        ctx.error(f"Created symlink {link} \u2192 /usr/lib/systemd/system/{unit}.service.")
    elif verb == "disable" and service["enabled"]:
        ctx.error(f"Removed {link}.")
    ctx.host.service_event(unit, verb)
    if now:
        return _job(ctx, unit, quiet, False, "start" if verb == "enable" else "stop")
    return 0


def _status(ctx, unit, quiet, now, verb):
    service = ctx.host.services.get(unit)
    if service is None:
        ctx.error(f"Unit {unit}.service could not be found.")
        return EXIT_NO_UNIT
    enabled = "enabled" if service["enabled"] else "disabled"
    since = time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(service.get("since", 0)))
    active = f"active (running) since {since}" if service["active"] else "inactive (dead)"
    ctx.print(f"\u25cf {unit}.service - {service.get('description', unit)}")
    ctx.print(f"   Loaded: loaded (/usr/lib/systemd/system/{unit}.service; {enabled}; vendor preset: {enabled})")
    ctx.print(f"   Active: {active}")
    return 0 if service["active"] else EXIT_NOT_RUNNING


def _is_active(ctx, unit, quiet, now, verb):
    state = _properties(ctx.host, unit)["ActiveState"]
    if not quiet:
        ctx.print(state)
    return 0 if state == "active" else EXIT_NOT_RUNNING


def _is_enabled(ctx, unit, quiet, now, verb):
    service = ctx.host.services.get(unit)
    if service is None:
        ctx.error(f"Failed to get unit file state for {unit}.service: No such file or directory")
        return EXIT_FAILURE
    state = _file_state(service)
    if not quiet:
        ctx.print(state)
    return 0 if state == "enabled" else EXIT_FAILURE


def _bind(func, verb):
    return lambda ctx, unit, quiet, now: func(ctx, unit, quiet, now, verb)


_HANDLERS = {
    **{v: _bind(_job, v) for v in ("start", "stop", "restart", "reload", "try-restart")},
    **{v: _bind(_enable, v) for v in ("enable", "disable")},
    **{v: _bind(_mask, v) for v in ("mask", "unmask")},
    "status": _bind(_status, "status"),
    "is-active": _bind(_is_active, "is-active"),
    "is-enabled": _bind(_is_enabled, "is-enabled"),
    "reset-failed": _bind(_reset_failed, "reset-failed"),
}


@command("multipathd")
def multipathd(ctx):
    """multipathd show config | reconfigure, answered by the running daemon."""
    request = " ".join(ctx.args)
    if request not in ("show config", "reconfigure"):
        raise Unsupported(f"multipathd: command not implemented: {request}")
    service = ctx.host.services.get("multipathd")
    if not service or not service["active"] or ctx.host.multipath_config is None:
        ctx.error("lab: multipathd is not running (cannot connect to its socket)")
        return EXIT_FAILURE
    if request == "reconfigure":
        ctx.host.service_event("multipathd", "reconfigure")
        ctx.print("ok")
        return 0
    ctx.print(multipath.render(ctx.host.multipath_config), end="")
    return 0
