"""Data every Engine has from its database's creation: the predefined roles.

oVirt/ovirt-engine packaging/dbscripts/data/00500_insert_roles.sql (4.5.7): id, name, description; every one is
read-only (`is_readonly` true, so `mutable` false), and `role_type` 1 is an administrative role, 2 a user role.
Roles later upgrade scripts add are not here.
"""

ADMIN, USER = 1, 2
ROLES = (
    ("00000000-0000-0000-0000-000000000001", "SuperUser", "Roles management administrator", ADMIN),
    ("00000000-0000-0000-0001-000000000001", "UserRole", "Standard User Role", USER),
    (
        "00000000-0000-0000-0001-000000000002",
        "PowerUserRole",
        "User Role, allowed to create VMs, Templates and Disks",
        USER,
    ),
    (
        "def00001-0000-0000-0000-def000000001",
        "ClusterAdmin",
        "Administrator Role, permission for all the objects underneath a specific Cluster",
        ADMIN,
    ),
    (
        "def00002-0000-0000-0000-def000000002",
        "DataCenterAdmin",
        "Administrator Role, permission for all the objects underneath a specific Data Center, except Storage",
        ADMIN,
    ),
    (
        "def00003-0000-0000-0000-def000000003",
        "StorageAdmin",
        "Administrator Role, permission for all operations on a specific Storage Domain",
        ADMIN,
    ),
    (
        "def00004-0000-0000-0000-def000000004",
        "HostAdmin",
        "Administrator Role, permission for all operations on a specific Host",
        ADMIN,
    ),
    (
        "def00005-0000-0000-0000-def000000005",
        "NetworkAdmin",
        "Administrator Role, permission for all operations on a specific Logical Network",
        ADMIN,
    ),
    (
        "def00006-0000-0000-0000-def000000006",
        "UserVmManager",
        "User Role, with permission for any operation on Vms",
        USER,
    ),
    (
        "def00007-0000-0000-0000-def000000007",
        "VmPoolAdmin",
        "Administrator Role, permission for all operations on a specific VM Pool",
        ADMIN,
    ),
    (
        "def00008-0000-0000-0000-def000000008",
        "TemplateAdmin",
        "Administrator Role, permission for all operations on a specific Template",
        ADMIN,
    ),
    (
        "def0000a-0000-0000-0000-def00000000a",
        "QuotaConsumer",
        "User Role, permissions to consume the Quota resources",
        USER,
    ),
    (
        "def0000a-0000-0000-0000-def00000000b",
        "DiskOperator",
        "User Role, permissions for all operations on a specific disk",
        USER,
    ),
    ("def0000a-0000-0000-0000-def00000000c", "DiskCreator", "User Role, permission to create Disks", USER),
    (
        "def0000b-0000-0000-0000-def00000000b",
        "GlusterAdmin",
        "Administrator Role, permissions for operations on Gluster objects",
        ADMIN,
    ),
    ("def0000a-0000-0000-0000-def00000000d", "VmCreator", "User Role, permission to create VMs", USER),
    ("def0000a-0000-0000-0000-def00000000e", "TemplateCreator", "User Role, permission to create Templates", USER),
    (
        "def0000a-0000-0000-0000-def00000000f",
        "TemplateOwner",
        "User Role, permissions for all operations on Templates",
        USER,
    ),
    ("def0000c-0000-0000-0000-def000000000", "ExternalEventsCreator", "External Events Creator", USER),
    ("def0000d-0000-0000-0000-def000000000", "ExternalTasksCreator", "External Tasks Creator", USER),
    ("def0000a-0000-0000-0000-def000000010", "VnicProfileUser", "VM Network Interface Profile User", USER),
    ("def00009-0000-0000-0000-def000000009", "UserTemplateBasedVm", "Template User", USER),
    ("def00011-0000-0000-0000-def000000011", "InstanceCreator", "User Role, permission to create Instances", USER),
    (
        "def00012-0000-0000-0000-def000000012",
        "UserInstanceManager",
        "User Role, with permission for any operation on Instances",
        USER,
    ),
    ("def0000c-0000-0000-0000-def00000000c", "ReadOnlyAdmin", "Read Only Administrator Role", ADMIN),
    ("def00011-0000-0000-0000-def000000013", "TagManager", "Tag Manager", ADMIN),
    ("def00011-0000-0000-0000-def000000014", "BookmarkManager", "Bookmark Manager", ADMIN),
    ("def00011-0000-0000-0000-def000000015", "EventNotificationManager", "Event Notification Manager", ADMIN),
    ("def00011-0000-0000-0000-def000000016", "AuditLogManager", "Audit Log Manager", ADMIN),
    (
        "def00013-0000-0000-0000-def000000013",
        "MacPoolAdmin",
        "MAC Pool Administrator Role, permission for manipulation with MAC pools",
        ADMIN,
    ),
    (
        "def00014-0000-0000-0000-def000000014",
        "MacPoolUser",
        "MAC Pool User Role, permission allowing using MAC pools",
        USER,
    ),
    ("def00020-0000-0000-0000-abc000000010", "DiskProfileUser", "Disk Profile User", USER),
    (
        "def00006-0000-0000-0000-def000000011",
        "UserVmRunTimeManager",
        "User Role, with permissions for any operations on VMs except snapshot manipulation",
        USER,
    ),
    (
        "def00021-0000-0000-0000-def000000015",
        "UserProfileEditor",
        "Role that allow users to edit the UserProfile",
        USER,
    ),
    (
        "def00030-0000-0000-0000-def000000011",
        "VmImporterExporter",
        "Administrator Role, with permission to import or export Vms",
        ADMIN,
    ),
    ("def00017-0000-0000-0000-def000000017", "CpuProfileOperator", "Cpu Profile Operation", USER),
    (
        "def00016-0000-0000-0000-def000000016",
        "CpuProfileCreator",
        "Cpu Profile Creation/Deletion/Updating and Operation",
        ADMIN,
    ),
)
