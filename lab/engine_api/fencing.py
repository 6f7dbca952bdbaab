"""What the Engine does about a monitored host that stops answering, as ovirt-engine 4.5.7 does it (the lab's host
stops answering when its machine is off).

* VdsManager.handleNetworkException: the host is Connecting for a grace period of TimeoutToResetVdsInSeconds (plus
  DelayResetForSpmInSeconds for the SPM, plus DelayResetPerVmInSeconds per VM), logging VDS_HOST_NOT_RESPONDING_
  CONNECTING (9008) with power management, VDS_HOST_NOT_RESPONDING (9027) without; then Non Responsive (VDS_FAILURE,
  12) and VdsNotRespondingTreatmentCommand runs.
* The treatment, in order: nothing while DisableFenceAtStartupInSec has not passed since the Engine started
  (FenceValidator.isStartupTimeoutPassed, Backend.getStartedAt; VDS_ALERT_FENCE_OPERATION_SKIPPED, 9003), to be
  run again then by PmHealthCheckManager.recover for every PM host still Non Responsive; the cluster's fencing
  policy off (9015); SSH soft fencing, skipped because the power agent reports the machine off; no power
  management (9028); no other host of the cluster or data centre Up to run the agent (FenceProxyLocator), which
  fails the restart (VDS_RECOVER_FAILED, 19); else RestartVdsCommand: FENCE_OPERATION_STARTED (9017), Reboot,
  the machine powered on by its agent, FENCE_OPERATION_SUCCEEDED (9018), SYSTEM_VDS_RESTART (121), VDS_RECOVER (14);
  after the reboot Non Responsive, until monitoring finds it answering.
* Unmonitored statuses (VDSStatus.isEligibleForHostMonitoring: maintenance, installing, reboot...) are never
  fenced: the migration's own reboots go through them.

The hosted-engine deploy's restore holds fencing off with DisableFenceAtStartupInSec 86400 (restore_backup.yml) and
puts the backup's value back before the Engine starts in its VM (02_engine_vm_configuration.yml), so the restored
Engine's window is the backup's value, counted from that start. Values: the model's `engine: config:`, else these.
"""

from __future__ import annotations

NOT_ANSWERING = "not-answering"  # what the monitor says of a host whose machine is off
CONFIG = {  # packaging/dbscripts/upgrade/pre_upgrade/0000_config.sql
    "DisableFenceAtStartupInSec": 300,
    "TimeoutToResetVdsInSeconds": 60,
    "DelayResetForSpmInSeconds": 20,
    "DelayResetPerVmInSeconds": 0.5,
}
PROXY_STATUSES = ("up", "non_operational")  # FenceProxyLocator: Up, or Non Operational for another reason


def config(site, key: str) -> float:
    return float({**CONFIG, **(site.engine.get("config") or {})}[key])


def _datacenter(site, host):
    return (site.state["clusters"].get(host["cluster"]) or {}).get("datacenter")


def _time_to_fence(site, host) -> float:
    """VdsManager.calcTimeoutToFence."""
    datacenter = _datacenter(site, host)
    spm = datacenter is not None and site.spm_host(datacenter) is host
    vms = len(site.running_vms(host["id"]))
    return (
        config(site, "TimeoutToResetVdsInSeconds")
        + (config(site, "DelayResetForSpmInSeconds") if spm else 0)
        + vms * config(site, "DelayResetPerVmInSeconds")
    )


def not_answering(site, host, now: float) -> bool:
    """One monitoring cycle of a host that does not answer; True if its state changed. The grace period is
    counted from the first cycle without an answer, with the host as it was then (SPM, its VMs)."""
    if host["status"] == "non_responsive":
        return False
    if "unanswered" not in host:
        host["unanswered"] = {"since": now, "grace": _time_to_fence(site, host)}
    since, grace = host["unanswered"]["since"], host["unanswered"]["grace"]
    if now < since + grace:
        if host["status"] == "connecting":
            return False
        host["status"] = "connecting"
        pm = host["power_management"]["enabled"]
        site.log(
            "VDS_HOST_NOT_RESPONDING_CONNECTING" if pm else "VDS_HOST_NOT_RESPONDING", host=host, Seconds=int(grace)
        )
        return True
    host["status"] = "non_responsive"
    site.log("VDS_FAILURE", host=host)
    treat(site, host, now)
    return True


def answering(site, host) -> bool:
    """The host answers again: monitoring takes it back Up."""
    forgot = host.pop("unanswered", None) is not None
    if host["status"] not in ("connecting", "non_responsive"):
        return forgot
    host["status"] = "up"
    site.log("VDS_DETECTED", host=host, HostStatus="Up")
    return True


def _window_ends(site) -> float:
    if site.started_at is None:  # not started: nothing fences
        return float("inf")
    return site.started_at + config(site, "DisableFenceAtStartupInSec")


def recover(site, now: float) -> bool:
    """PmHealthCheckManager.recover, once per start of the Engine when its startup window has passed: every host with
    power management still Non Responsive (whether it stopped answering since, or the database says so) is treated."""
    if site.recovered_for == site.started_at or now < _window_ends(site):
        return False
    site.recovered_for = site.started_at
    waiting = [
        h for h in site.state["hosts"].values() if h["status"] == "non_responsive" and h["power_management"]["enabled"]
    ]
    for host in waiting:
        treat(site, host, now)
    return bool(waiting)


def treat(site, host, now: float) -> None:
    """VdsNotRespondingTreatmentCommand."""
    if now < _window_ends(site):  # recover() treats it again once the window has passed
        site.log("VDS_ALERT_FENCE_OPERATION_SKIPPED", host=host)
        return
    cluster = site.state["clusters"].get(host["cluster"]) or {}
    if not (cluster.get("fencing_policy") or {}).get("enabled", True):
        site.log("VDS_ALERT_FENCE_DISABLED_BY_CLUSTER_POLICY", host=host)
        return
    if not host["power_management"]["enabled"]:
        site.log("VDS_ALERT_NO_PM_CONFIG_FENCE_OPERATION_SKIPPED", host=host)
        return
    if not _proxy(site, host):
        site.log("VDS_RECOVER_FAILED", host=host)
        return
    site.log("FENCE_OPERATION_STARTED", host=host, Action="Restart")
    host["status"] = "reboot"
    host.pop("unanswered", None)
    site.fence_restart(host)
    site.log("FENCE_OPERATION_SUCCEEDED", host=host, Action="Restart")
    site.log("SYSTEM_VDS_RESTART", host=host)
    site.log("VDS_RECOVER", host=host)
    site.schedule_reboot_end(host)


def _proxy(site, host):
    """FenceProxyLocator with FenceProxyDefaultPreferences cluster,dc: another host that can run the agent."""
    for other in site.state["hosts"].values():
        same = other["cluster"] == host["cluster"] or _datacenter(site, other) == _datacenter(site, host)
        if other["id"] != host["id"] and same and other["status"] in PROXY_STATUSES:
            return other
    return None
