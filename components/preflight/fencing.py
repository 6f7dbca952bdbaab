"""Which hosts the new Engine could fence. The deploy holds fencing off while it runs (DisableFenceAtStartupInSec
86400, restore_backup.yml) and puts the backup's value back (02_engine_vm_configuration.yml); from then on the restored
Engine power-cycles a host with power management that stops answering, and DisableFenceAtStartupInSec (300 s by
default) after it starts it does so to every such host still Non Responsive (PmHealthCheckManager.recover; the lab's
model is lab/engine_api/fencing.py). The migration's own reboots (the node reinstalls) go through the Engine, which does
not fence a host it is rebooting or that is in maintenance."""

from __future__ import annotations

NOT_ANSWERING = ("non_responsive", "connecting")  # the original Engine's view of a host whose VDSM does not answer


def check(site, hosts, facts, findings, password, api):
    read = facts.get("api")
    if read is None:
        return  # original_engine_api says the API was not read
    powered = [h for h in read["hosts"] if h.power_management is not None and h.power_management.enabled]
    silent = sorted(h.name for h in powered if str(h.status) in NOT_ANSWERING)
    if silent:
        findings.errors.append(
            f"{', '.join(silent)} {'does' if len(silent) == 1 else 'do'} not answer the original Engine now and "
            f"{'has' if len(silent) == 1 else 'have'} power management enabled: the restored Engine power-cycles such "
            f"a host DisableFenceAtStartupInSec (300 s by default) after it starts in its VM; bring it back, put it in "
            f"maintenance (a host in maintenance is never fenced) or disable its power management before the backup"
        )
    if powered:
        findings.notes.append(
            f"once the new Engine runs it may fence (power-cycle) {', '.join(sorted(h.name for h in powered))} if it "
            f"stops answering: power management is enabled there, and the deploy puts the backup's "
            f"DisableFenceAtStartupInSec back at its end; keep these hosts reachable from the new Engine, or disable "
            f"their power management before the backup"
        )
