"""ovirt-hosted-engine-cleanup (ovirt-hosted-engine-setup src/bin/ovirt-hosted-engine-cleanup, 2.4 to 2.7): the host
de-configured so that a deploy can run again from scratch. The lab prints the script's own lines (its section
headers, the files it removes) and applies what its tools do to what the lab models; their own output is not
reproduced."""

from lab.commands import command
from lab.commands.hosted_engine import _he_vm_power, domains
from lab.commands.ovirt import HE_CONF, _not_found, _state
from lab.commands.packages import he_installed

USAGE = "Usage: {0} [options]\n\n    -h            - This help text.\n    -q            - Quiet mode, do not prompt for confirmation. Dangerous!!!\n"
CAUTION = "This will de-configure the host to run ovirt-hosted-engine-setup from scratch."
BRIDGE_CAUTION = (
    "A previously configured management bridge has been found on the system, this will try to de-configure it. "
    "Under certain circumstances you can loose network connection."
)
HA_UNITS = ("ovirt-ha-agent", "ovirt-ha-broker")
OTHER_UNITS = ("vdsmd", "supervdsmd", "libvirtd-tls.socket", "libvirtd", "momd", "sanlock")
FILES = (
    "/etc/init/libvirtd.conf",
    "/etc/libvirt/nwfilter/vdsm-no-mac-spoofing.xml",
    "/etc/ovirt-hosted-engine/answers.conf",
    HE_CONF,
    "/etc/vdsm/vdsm.conf",
    "/etc/pki/vdsm/*/*.pem",
    "/etc/pki/CA/cacert.pem",
    "/etc/pki/libvirt/*.pem",
    "/etc/pki/libvirt/private/*.pem",
    "/etc/pki/ovirt-vmconsole/*.pem",
    "/var/cache/libvirt/*",
    "/var/run/ovirt-hosted-engine-ha/*",
    "/var/tmp/localvm*",
)


@command("ovirt-hosted-engine-cleanup")
def cleanup(ctx):
    if not he_installed(ctx.host):
        return _not_found(ctx)
    quiet = _options(ctx)
    if quiet is None:
        return 0 if ctx.args == ["-h"] else 1
    answers = iter(ctx.stdin.read().decode().splitlines())
    if not quiet and not _proceed(ctx, CAUTION, answers):
        return 1
    _section(ctx, "Destroy hosted-engine VM")
    _poweroff(ctx)
    if domains(ctx):
        _section(ctx, "Killing left-behind HostedEngine processes")
    ctx.error("error: failed to get domain 'HostedEngine'")  # the Engine VM is VDSM's transient domain, never defined
    he = _state(ctx)["he"]
    left = he.pop("left_behind", [])
    _section(ctx, "Stop HA services")
    _stop(ctx, HA_UNITS)
    for section in ("Shutdown sanlock", "Disconnecting the hosted-engine storage domain", "De-configure VDSM networks"):
        _section(ctx, section)
    if "vdsm" in left or he.get("deployed"):
        ctx.print("ovirtmgmt")  # grep's match in `ip -o a`
        if not quiet and not _proceed(ctx, BRIDGE_CAUTION, answers):
            return 1
    _section(ctx, "Stop other services")
    _stop(ctx, OTHER_UNITS)
    _section(ctx, "De-configure external daemons")
    _section(ctx, "De-configure OVN")
    _section(ctx, "Removing configuration files")
    for pattern in FILES:
        _remove(ctx, pattern)
    he["deployed"] = False
    _section(ctx, "Removing IP Rules")
    return 0


def _options(ctx):
    """getopts hq: True for -q, False for none, None after -h (usage, exit 0) or an unknown option (exit 1)."""
    quiet = False
    for arg in ctx.args:
        if arg == "-q":
            quiet = True
        else:
            ctx.print(USAGE.format(ctx.name))
            return None
    return quiet


def _proceed(ctx, text, answers):
    """caution(): `tput smso` without a terminal prints nothing; `read answer`, and anything but y dies."""
    ctx.print(
        f"  {text}  \nCaution, this operation should be used with care.\n\nAre you sure you want to proceed? [y/n]"
    )
    if next(answers, "") == "y":
        return True
    ctx.error("FATAL: Please contact support for further assistance.")
    return False


def _section(ctx, name):
    ctx.print(f"  -=== {name} ===- ")


def _poweroff(ctx):
    """`hosted-engine --vm-poweroff`: the Engine VM stopped where it runs here, as --vm-shutdown stops it; without
    hosted-engine.conf, exit_not_deployed (its exit status is not looked at)."""
    if "HostedEngine" in domains(ctx) or not ctx.fs.exists(HE_CONF):
        _he_vm_power(ctx, start=False)


def _stop(ctx, units):
    for unit in units:
        if unit in ctx.host.services:
            ctx.host.service_event(unit, "stop")


def _remove(ctx, pattern):
    """The script's loop over $FILES: an unmatched glob stays as it is written."""
    found = ctx.fs.glob(pattern)
    if not found:
        ctx.print(f"? {pattern} already missing")
    for path in found:
        ctx.print(f"- removing {path}")
        ctx.fs.remove(path, recursive=ctx.fs.get(path).is_dir)
