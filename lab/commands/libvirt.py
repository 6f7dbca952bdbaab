"""virsh (libvirt), read-only: `-r domcapabilities` for the preflight's CPU models, `-r domstate NAME` for the
domains a host runs (a failed deploy's bootstrap VM, the Engine VM)."""

from lab.commands import command
from lab.commands.hosted_engine import domains
from lab.commands.hostfacts import domain_capabilities
from lab.transport.shell import Unsupported


@command("virsh")
def virsh(ctx):
    if ctx.args == ["-r", "domcapabilities"]:
        return domain_capabilities(ctx)
    if len(ctx.args) == 3 and ctx.args[:2] == ["-r", "domstate"]:
        return _domstate(ctx, ctx.args[2])
    raise Unsupported("virsh is implemented as: virsh -r domcapabilities, virsh -r domstate NAME")


def _domstate(ctx, name):
    """virsh domstate: the state and a blank line; a domain libvirt does not know is an error (exit 1)."""
    state = domains(ctx).get(name)
    if state is None:
        ctx.error(f"error: failed to get domain '{name}'")
        return 1
    ctx.print(state + "\n")
    return 0
