"""Which hosts the new Engine could fence. The deploy holds fencing off while it runs (DisableFenceAtStartupInSec
86400, restore_backup.yml) and puts the backup's value back (02_engine_vm_configuration.yml); from then on the restored
Engine power-cycles a host with power management that stops answering. The migration's own reboots (the node
reinstalls) go through the Engine, which does not fence a host it is rebooting."""

from __future__ import annotations


def check(site, hosts, facts, findings, password, api):
    read = facts.get("api")
    if read is None:
        return  # original_engine_api says the API was not read
    fenced = sorted(h.name for h in read["hosts"] if h.power_management is not None and h.power_management.enabled)
    if fenced:
        findings.notes.append(
            f"once the new Engine runs it may fence (power-cycle) {', '.join(fenced)} if it stops answering: power "
            f"management is enabled there, and the deploy puts the backup's DisableFenceAtStartupInSec back at its "
            f"end; keep these hosts reachable from the new Engine, or disable their power management before the backup"
        )
