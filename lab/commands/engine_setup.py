"""engine-upgrade-check and engine-setup (procedure 4), on the original Engine."""

import json
import time

from lab.commands import command
from lab.commands.engine_backup import DB_DUMP_MARK, _entities
from lab.commands.ovirt import (
    ENGINE_PACKAGE,
    SETUP_PACKAGES,
    _AnswerError,
    _lab,
    _load_answers,
    _not_found,
    _now,
    _read_opts,
    _state,
    _write,
    otopi_failed,
)
from lab.transport.shell import Unsupported


@command("engine-upgrade-check")
def engine_upgrade_check(ctx):
    """ovirt-engine-upgrade-check: 0 'Upgrade available', 1 'No upgrade', 2 error."""
    if ENGINE_PACKAGE not in ctx.host.packages:
        return _not_found(ctx)
    quiet = False
    for arg in ctx.args:
        if arg in ("-q", "--quiet"):
            quiet = True
        else:
            ctx.error(f"Usage: engine-upgrade-check [options]\n\nengine-upgrade-check: error: no such option: {arg}")
            return 2
    pending = _state(ctx)["update_pending"]["setup"]
    version = _lab(ctx).engines.original.site.engine["version"]
    if not quiet:
        ctx.print(f"VERB: queue package {ENGINE_PACKAGE} for update")
        ctx.print(f"VERB: package {ENGINE_PACKAGE} queued")
        ctx.print("VERB: Building transaction")
        if pending:
            ctx.print("VERB: Transaction built")
            ctx.print("VERB: Transaction Summary:")
            for pkg in SETUP_PACKAGES[:2]:
                ctx.print(f"VERB:     updated    - {pkg}-{version}-1.el8.noarch")
                ctx.print(f"VERB:     update     - {pkg}-{version}-2.el8.noarch")
            ctx.print("Upgrade available")
        else:
            ctx.print("VERB: Empty transaction")
            ctx.print("VERB: Transaction Summary:")
            ctx.print("No upgrade")
    return 0 if pending else 1


def _otopi_fail(ctx, stage, message):
    otopi_failed(ctx.print, stage, message)
    ctx.print("[ ERROR ] Execution of setup failed")
    return 1


ENGINE_SERVICES = (("ovirt-engine", "engine"), ("ovirt-engine-dwhd", "dwh"))


def _engine_services(ctx, action, units):
    """engine-setup stops the Engine's services before its work and starts them after, announcing each."""
    for unit, text in units:
        if unit in ctx.host.services:
            ctx.print(f"[ INFO  ] {'Stopping' if action == 'stop' else 'Starting'} {text} service")
            ctx.host.service_event(unit, action)


@command("engine-setup")
def engine_setup(ctx):
    """engine-setup --accept-defaults | --config-append=FILE: applies a pending Engine update."""
    if ENGINE_PACKAGE not in ctx.host.packages:
        return _not_found(ctx)
    values, flags, unknown = _read_opts(ctx.args, {"--accept-defaults", "--offline"}, {"--config-append", "--log"})
    if unknown:
        raise Unsupported(f"engine-setup: options not implemented: {' '.join(unknown)}")
    state, stamp = _state(ctx), _now()
    log = f"/var/log/ovirt-engine/setup/ovirt-engine-setup-{stamp}-lab.log"
    ctx.print("[ INFO  ] Stage: Initializing")
    ctx.print("[ INFO  ] Stage: Environment setup")
    ctx.print(
        "          Configuration files: /etc/ovirt-engine-setup.conf.d/10-packaging-jboss.conf, "
        "/etc/ovirt-engine-setup.conf.d/10-packaging.conf, "
        "/etc/ovirt-engine-setup.conf.d/20-setup-ovirt-post.conf"
    )
    ctx.print(f"          Log file: {log}")
    ctx.print("          Version: otopi-1.10.3 (otopi-1.10.3-1.el8)")
    try:
        _load_answers(ctx, values.get("--config-append", []))
    except _AnswerError as exc:
        return _otopi_fail(ctx, "Environment setup", exc)
    ctx.print("[ INFO  ] Stage: Environment packages setup")
    ctx.print("[ INFO  ] Stage: Programs detection")
    ctx.print("[ INFO  ] Stage: Environment customization")
    if not flags & {"--accept-defaults"} and not values.get("--config-append"):
        # Interactive: the first question finds stdin closed.
        ctx.print("          --== PRODUCT OPTIONS ==--")
        ctx.print("          Perform full vacuum on the oVirt engine history")
        ctx.print("          database ovirt_engine_history?")
        ctx.print("          This operation may take a while depending on this setup health and the")
        ctx.print("          configuration of the db vacuum process.")
        ctx.print("          See https://www.postgresql.org/docs/12/sql-vacuum.html")
        ctx.print("          (Yes, No) [No]: ")
        return _otopi_fail(ctx, "Environment customization", "End of file")
    if state["update_pending"]["setup"]:
        return _otopi_fail(
            ctx,
            "Environment customization",
            "Setup packages are outdated; please update them first: yum update ovirt\\*setup\\*",
        )
    ctx.print("[ INFO  ] Checking for product updates...")
    update = state["update_pending"]["engine"]
    ctx.print("[ INFO  ] Product updates found" if update else "[ INFO  ] No product updates found")
    ctx.print("[ INFO  ] Stage: Setup validation")
    ctx.print("[ INFO  ] Stage: Transaction setup")
    _engine_services(ctx, "stop", ENGINE_SERVICES)
    ctx.print("[ INFO  ] Stage: Misc configuration (early)")
    ctx.print("[ INFO  ] Stage: Package installation")
    ctx.print("[ INFO  ] Stage: Misc configuration")
    dump = f"/var/lib/ovirt-engine/backups/engine-{stamp}.lab.dump"
    ctx.print(f"[ INFO  ] Backing up database localhost:engine to '{dump}'.")
    ctx.print("[ INFO  ] Updating Engine database schema")
    ctx.print("[ INFO  ] Stage: Transaction commit")
    ctx.print("[ INFO  ] Stage: Closing up")
    ctx.print("          --== SUMMARY ==--")
    ctx.print("          --== END OF SUMMARY ==--")
    _engine_services(ctx, "start", reversed(ENGINE_SERVICES))
    if "httpd" in ctx.host.services:
        ctx.print("[ INFO  ] Restarting httpd")
        ctx.host.service_event("httpd", "restart")
    ctx.print("[ INFO  ] Stage: Clean up")
    ctx.print(f"          Log file is located at {log}")
    answers = f"/var/lib/ovirt-engine/setup/answers/{stamp}-setup.conf"
    ctx.print(f"[ INFO  ] Generating answer file '{answers}'")
    ctx.print("[ INFO  ] Stage: Pre-termination")
    ctx.print("[ INFO  ] Stage: Termination")
    ctx.print("[ INFO  ] Execution of setup completed successfully")
    for directory in (
        "/var/log/ovirt-engine/setup",
        "/var/lib/ovirt-engine/setup/answers",
        "/var/lib/ovirt-engine/backups",
    ):
        ctx.fs.mkdir(directory, parents=True)
    _write(
        ctx,
        log,
        "".join(f"{time.strftime('%Y-%m-%d %H:%M:%S')} INFO {line}\n" for line in ctx.out.decode().splitlines()),
    )
    _write(
        ctx,
        answers,
        "# OTOPI answer file, generated by the lab's engine-setup\n"
        "[environment:default]\nOVESETUP_CORE/engineStop=none:None\n",
    )
    _write(ctx, dump, DB_DUMP_MARK + json.dumps(_entities(_lab(ctx).engines.snapshot())) + "\n")
    state["update_pending"]["engine"] = False
    return 0
