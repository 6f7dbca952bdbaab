"""The audit log entries the lab's Engine writes: AuditLogType codes and severities, AuditLogMessages texts.

Codes and severities: ovirt-engine backend/manager/modules/common/src/main/java/org/ovirt/engine/core/common/
AuditLogType.java; texts: backend/manager/modules/dal/src/main/resources/bundles/AuditLogMessages.properties
(both the same in 4.4.0 to 4.5.7). ${Name} variables are filled as the engine's AuditLogDirector does.
"""

import re

# key -> (code, severity, text)
TYPES = {
    "VDS_FAILURE": (12, "error", "Host ${VdsName} is non responsive."),
    "VDS_DETECTED": (13, "normal", "Status of host ${VdsName} was set to ${HostStatus}."),
    "VDS_RECOVER": (14, "normal", "Host ${VdsName} is rebooting."),
    "VDS_RECOVER_FAILED": (19, "error", "Host ${VdsName} failed to recover."),
    "SYSTEM_VDS_RESTART": (121, "normal", "Host ${VdsName} was restarted by the engine."),
    "VDS_ALERT_FENCE_OPERATION_SKIPPED": (
        9003,
        "alert",
        "Host ${VdsName} became non responsive. Fence operation skipped as the system is still initializing and this "
        "is not a host where hosted engine was running on previously.",
    ),
    "VDS_HOST_NOT_RESPONDING_CONNECTING": (
        9008,
        "warning",
        "Host ${VdsName} is not responding. It will stay in Connecting state for a grace period of ${Seconds} seconds "
        "and after that an attempt to fence the host will be issued.",
    ),
    "VDS_ALERT_FENCE_DISABLED_BY_CLUSTER_POLICY": (
        9015,
        "alert",
        "Host ${VdsName} became Non Responsive and was not restarted due to disabled fencing in the Cluster Fencing "
        "Policy.",
    ),
    "FENCE_OPERATION_STARTED": (9017, "normal", "Power management ${Action} of Host ${VdsName} initiated."),
    "FENCE_OPERATION_SUCCEEDED": (9018, "normal", "Power management ${Action} of Host ${VdsName} succeeded."),
    "VDS_HOST_NOT_RESPONDING": (
        9027,
        "warning",
        " Host ${VdsName} is not responding. Host cannot be fenced automatically because power management for the "
        "host is disabled.",
    ),
    "VDS_ALERT_NO_PM_CONFIG_FENCE_OPERATION_SKIPPED": (
        9028,
        "alert",
        "Host ${VdsName} became non responsive. It has no power management configured. Please check the host status, "
        'manually reboot it, and click "Confirm Host Has Been Rebooted"',
    ),
    "VDS_MAINTENANCE": (15, "normal", "Host ${VdsName} was switched to Maintenance Mode."),
    "VDS_ACTIVATE": (16, "normal", "Activation of host ${VdsName} initiated by ${UserName}."),
    "USER_RUN_VM": (32, "normal", "VM ${VmName} started on Host ${VdsName}"),
    "USER_STOP_VM": (33, "normal", "VM ${VmName} powered off by ${UserName} (Host: ${VdsName})."),
    "USER_UPDATE_VM": (35, "normal", "VM ${VmName} configuration was updated by ${UserName}."),
    "USER_UPDATE_VDS": (43, "normal", "Host ${VdsName} configuration was updated by ${UserName}."),
    "USER_STARTED_VM": (153, "normal", "VM ${VmName} was started by ${UserName} (Host: ${VdsName})."),
    "VDS_CLUSTER_VERSION_NOT_SUPPORTED": (
        154,
        "error",
        "Host ${VdsName} is compatible with versions (${VdsSupportedVersions}) and cannot join Cluster ${ClusterName} "
        "which is set to version ${CompatibilityVersion}.",
    ),
    "CPU_TYPE_UNSUPPORTED_IN_THIS_CLUSTER_VERSION": (
        156,
        "error",
        "Host ${VdsName} moved to Non-Operational state as host CPU type is not supported in this cluster "
        "compatibility version or is not supported at all",
    ),
    "VDS_INSTALL_FAILED": (505, "error", "Host ${VdsName} installation failed. ${FailedInstallMessage}."),
    "VDS_INSTALL": (504, "normal", "Host ${VdsName} installed"),
    "VDS_ANSIBLE_INSTALL_STARTED": (
        560,
        "normal",
        "Ansible host-deploy playbook execution has started on host ${VdsName}.",
    ),
    "VDS_ANSIBLE_INSTALL_FINISHED": (
        561,
        "normal",
        "Ansible host-deploy playbook execution has successfully finished on host ${VdsName}.",
    ),
    "VDS_CPU_LOWER_THAN_CLUSTER": (
        515,
        "warning",
        "Host ${VdsName} moved to Non-Operational state as host does not meet the cluster's minimum CPU level. "
        "Missing CPU features : ${CpuFlags}",
    ),
    "VDS_SET_NONOPERATIONAL": (517, "normal", "Host ${VdsName} moved to Non-Operational state."),
    "VDS_SET_NONOPERATIONAL_NETWORK": (
        519,
        "warning",
        "Host ${VdsName} does not comply with the cluster ${ClusterName} networks, the following networks are "
        "missing on host: '${Networks}'",
    ),
    "VDS_SET_NONOPERATIONAL_DOMAIN": (
        522,
        "warning",
        "Host ${VdsName} cannot access the Storage Domain(s) ${StorageDomainNames} attached to the Data Center "
        "${StoragePoolName}. Setting Host state to Non-Operational.",
    ),
    "CPU_FLAGS_NX_IS_MISSING": (
        601,
        "warning",
        "Host ${VdsName} is missing the NX cpu flag. This flag can be enabled via the host BIOS. Please set Disable "
        "Execute (XD) for an Intel host, or No Execute (NX) for AMD.  Please make sure to completely power off the "
        "host for this change to take effect.",
    ),
    "USER_VDS_MAINTENANCE_WITHOUT_REASON": (
        620,
        "normal",
        "Host ${VdsName} was switched to Maintenance mode by ${UserName}.",
    ),
    "HOST_AVAILABLE_UPDATES_STARTED": (884, "normal", "Started to check for available updates on host ${VdsName}."),
    "HOST_AVAILABLE_UPDATES_FINISHED": (
        885,
        "normal",
        "Check for available updates on host ${VdsName} was completed successfully with message '${Message}'.",
    ),
    "HOST_AVAILABLE_UPDATES_SKIPPED_UNSUPPORTED_STATUS": (
        887,
        "warning",
        "Failed to check for available updates on host ${VdsName}: Unsupported host status.",
    ),
}
# The entry each host status change writes (the engine's commands and monitoring that make the change).
HOST_STATUS = {
    "preparing_for_maintenance": "USER_VDS_MAINTENANCE_WITHOUT_REASON",  # MaintenanceNumberOfVdssCommand
    "maintenance": "VDS_MAINTENANCE",  # MaintenanceVdsCommand, once empty
    "install_failed": "VDS_INSTALL_FAILED",
    "initializing": "VDS_ACTIVATE",  # ActivateVdsCommand
    "up": "VDS_DETECTED",  # HostMonitoring, status Up
}
ORIGIN = "oVirt"  # AuditLog's origin for the engine's own entries


def entry(key, ident, when, **values):
    """An audit log row: code, severity, description with its variables filled, and the values kept."""
    code, severity, text = TYPES[key]
    description = re.sub(r"\$\{(\w+)\}", lambda m: str(values.get(m.group(1), "")), text)
    return {
        "id": str(ident),
        "code": code,
        "severity": severity,
        "time": when,
        "description": description,
        "origin": ORIGIN,
    }
