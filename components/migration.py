"""SelfHostedEngineMigration: the site's whole move, in the procedure's order.

Storage and multipath preparation come first; later steps depend on them explicitly, so
`pulumi preview` reads as the migration plan and `pulumi up` never reorders it.
"""

from __future__ import annotations

import posixpath

import pulumi

from components import outage_window
from components.site_config import SiteConfig
from providers import host_facts, multipath_conf, records
from providers.address_handover import AddressHandover, record_path
from providers.decommission import Decommission
from providers.deployment_host_packages import DeploymentHostPackages
from providers.engine_backup import EngineBackup
from providers.evidence import MigrationEvidence
from providers.ha_drill import HighAvailabilityDrill
from providers.hosted_engine_deployment import HostedEngineDeployment
from providers.hosted_engine_node import HostedEngineNode
from providers.multipath_override import MultipathOverride
from providers.ssh import known_hosts_name, public_key_line
from providers.storage_export import StorageExport


class SelfHostedEngineMigration(pulumi.ComponentResource):
    def __init__(
        self, name: str, site: SiteConfig, private_key: pulumi.Input[str], secrets: dict | None = None, opts=None
    ):
        super().__init__("ovirt-she:index:SelfHostedEngineMigration", name, None, opts)
        self.site, self.private_key, self.secrets = site, private_key, secrets or {}
        # Procedure 3.1 first; the exports do not depend on one another, so they are prepared in parallel.
        # Later steps that need the storage depend on `self.storage_exports`.
        self.storage_exports = [self._storage_export(e) for e in site.storage_exports]
        self.multipath_overrides = [self._multipath_override(o) for o in site.multipath_overrides]
        self.packages = self.backup = self.handover = self.deployment = None
        self.drill = self.evidence = self.decommission = None
        self.evidence_location = None
        self.nodes: list[HostedEngineNode] = []
        if site.migration:
            # Before the original Engine stops: nothing that can run earlier runs inside the outage window.
            self.packages = self._deployment_host_packages(site.migration)
            preparation = self.storage_exports + self.multipath_overrides + [self.packages]
            self.backup = self._engine_backup(site.migration, preparation)
            self.handover = self._address_handover(site.migration)
            self.deployment = self._deployment(site.migration, [self.handover])
            self.nodes = self._nodes(site.migration, self.deployment)
            if site.migration.ha_drill["enabled"]:
                self.drill = self._drill(site.migration, self.nodes[-1])
            self.evidence = self._evidence(site.migration, self.drill or (self.nodes or [self.deployment])[-1])
            if site.migration.decommission:
                self.decommission = self._decommission(site.migration)
        self.register_outputs(self.outputs())

    def outputs(self) -> dict:
        """What an administrator reads after `up`: where things are and how healthy they are."""
        if not self.backup:
            return {}
        return {
            "engineUrl": self.deployment.engineUrl,
            "engineVmHostKey": self.deployment.engineVmHostKey,
            "backup": {
                "location": self.backup.location,
                "sha256": self.backup.sha256,
                "engineVersion": self.backup.engineVersion,
            },
            "addressHandover": {"address": self.handover.address, "originalEngine": self.handover.originalEngine},
            "outageWindow": self._outage_window(),
            "nodeScores": {node_name: node.score for node_name, node in zip(self.site.migration.nodes, self.nodes)},
            **(
                {
                    "haDrill": {
                        "fromNode": self.drill.fromNode,
                        "toNode": self.drill.toNode,
                        "seconds": self.drill.seconds,
                    }
                }
                if self.drill
                else {}
            ),
            **(
                {"evidence": {"location": self.evidence.location, "sha256": self.evidence.sha256}}
                if self.evidence
                else {}
            ),
            **({"originalEngine": self.decommission.originalEngine} if self.decommission else {}),
        }

    def _outage_window(self) -> dict:
        """What runs while no Engine manages the site, in order, and what was moved before it (known at preview);
        after `up`, the window as it was measured and its length in seconds."""
        deploy = self.site.migration.deployment_host
        measured = pulumi.Output.all(
            self.backup.steps, self.handover.startedAt, self.handover.finishedAt, self.deployment.steps
        ).apply(
            lambda ran: outage_window.measure(
                [
                    (self.backup._name, "EngineBackup", ran[0]),
                    (self.handover._name, "AddressHandover", outage_window.handover_steps(ran[1], ran[2])),
                    (self.deployment._name, "HostedEngineDeployment", ran[3]),
                ]
            )
        )
        resources = (self.backup, self.handover, self.deployment)
        return {
            "before": [r._name for r in self.storage_exports + self.multipath_overrides]
            + [
                f"{self.packages._name}: ovirt-hosted-engine-setup and the deploy's appliance on {deploy}",
                f"{self.backup._name}: the Engine's update (when allowed) and the appliance's Engine checked",
            ],
            "inside": outage_window.planned(
                {type(r).__name__: r._name for r in resources}, self.site.migration.hosted_engine["retryFailedDeploy"]
            ),
            "seconds": measured.apply(lambda window: window and window["seconds"]),
            "measured": measured,
        }

    def _engine_backup(self, migration, depends_on) -> EngineBackup:
        backup = migration.backup
        return EngineBackup(
            "engine-backup",
            engine=self.site.connection(migration.original_engine),
            backup_server=self.site.connection(migration.backup_server),
            deployment_host=self.site.connection(migration.deployment_host),
            private_key=self.private_key,
            file_name=backup.file_name,
            directory=backup.directory,
            engine_directory=backup.engine_directory,
            allow_engine_update=backup.allow_engine_update,
            deploy_backup_directory=migration.hosted_engine["backupDirectory"],
            appliance_engine=self.packages.applianceEngine,
            poll_interval=migration.node_timeouts["poll"],
            opts=self._child(depends_on),
        )

    def _deployment_host_packages(self, migration) -> DeploymentHostPackages:
        """The setup package and the deploy's appliance, installed while the original Engine still runs."""
        he = migration.hosted_engine
        return DeploymentHostPackages(
            "deployment-host-packages",
            deploy_host=self.site.connection(migration.deployment_host),
            private_key=self.private_key,
            appliance_ova=he["applianceOva"],
            offline_deployment=he["offlineDeployment"],
            poll_interval=migration.node_timeouts["poll"],
            opts=self._child(),
        )

    def _address_handover(self, migration) -> AddressHandover:
        """After the backup is copied off, before the deploy: the Engine VM takes the FQDN's address."""
        he, backup = migration.hosted_engine, migration.backup
        return AddressHandover(  # the preflight says at preview who holds the address and what will happen
            "address-handover",
            engine=self.site.connection(migration.original_engine),
            deploy_host=self.site.connection(migration.deployment_host),
            backup_server=self.site.connection(migration.backup_server),
            private_key=self.private_key,
            fqdn=he["fqdn"],
            mode=he["addressHandover"],
            record=record_path(backup.directory, backup.file_name),
            poll_interval=migration.node_timeouts["poll"],
            opts=self._child([self.backup]),
        )

    def _deployment(self, migration, depends_on) -> HostedEngineDeployment:
        he = migration.hosted_engine
        engine_vm = {"name": "engine-vm", **he["engineVm"]}  # the FQDN, port 22 and `ssh.user` unless given
        props = {
            "deployHost": self.site.connection(migration.deployment_host),
            "backupServer": self.site.connection(migration.backup_server),
            "backupFile": posixpath.join(migration.backup.directory, migration.backup.file_name),
            "backupSha256": self.backup.sha256,
            "privateKey": self.private_key,
            "rootSshPublicKey": pulumi.Output.from_input(self.private_key).apply(public_key_line),
            "adminPassword": self.secrets["adminPassword"],
            "engineRootPassword": self.secrets["engineRootPassword"],
            "engineApi": migration.engine_api,
            "engineVm": engine_vm,
            "storageDomainName": "hosted_storage",
            "deployTimeout": he["deployTimeout"],
            "pollInterval": migration.node_timeouts["poll"],
            **{
                k: he[k]
                for k in (
                    "fqdn",
                    "bridgeInterface",
                    "gateway",
                    "vm",
                    "storage",
                    "smtp",
                    "dataCenterName",
                    "clusterName",
                    "backupDirectory",
                    "renewPki",
                    "enableKeycloak",
                    "applianceOva",
                    "offlineDeployment",
                    "retryFailedDeploy",
                    "networkTest",
                )
            },
            **{k: v for k, v in self.secrets.items() if k.startswith("iscsi")},
        }
        return HostedEngineDeployment("hosted-engine", props, opts=self._child(depends_on))

    def _nodes(self, migration, deployment) -> list[HostedEngineNode]:
        """One after another: each node waits for the previous one, so two are never in maintenance at once."""
        nodes, previous = [], deployment
        timeouts = migration.node_timeouts
        for host in migration.nodes:
            previous = HostedEngineNode(
                f"hosted-engine-node-{host}",
                engine=migration.engine_api,
                admin_password=self.secrets["adminPassword"],
                host=self.site.engine_host_name(host),
                connection=self.site.connection(host),
                private_key=self.private_key,
                maintenance_timeout=timeouts["maintenance"],
                install_timeout=timeouts["install"],
                poll_interval=timeouts["poll"],
                reboot=migration.node_reboot,
                opts=self._child([previous]),
            )
            nodes.append(previous)
        return nodes

    def _drill(self, migration, last_node) -> HighAvailabilityDrill:
        """After the last node, so every node can take the Engine VM."""
        backup = migration.backup
        return HighAvailabilityDrill(
            "ha-drill",
            engine=migration.engine_api,
            admin_password=self.secrets["adminPassword"],
            connection=self.site.connection(migration.deployment_host),
            backup_server=self.site.connection(migration.backup_server),
            record=records.beside_backup(backup.directory, backup.file_name, "drill"),
            private_key=self.private_key,
            timeout=migration.ha_drill["timeout"],
            poll_interval=migration.node_timeouts["poll"],
            opts=self._child([last_node]),
        )

    def _decommission(self, migration) -> Decommission:
        """Last of all, gated on the nodes' scores and the drill: the point of no return, said at preview."""
        pulumi.log.warn(
            f"decommission.originalEngine is {migration.decommission}: once every node scores and the drill passed, "
            f"`ovirt-engine` is masked on {migration.original_engine}"
            + (" and the machine powered off" if migration.decommission == "power-off" else "")
            + ". This is the point of no return: the way back through EngineBackup (runbook step 8) is gone after it."
        )
        return Decommission(
            "decommission",
            engine=self.site.connection(migration.original_engine),
            deploy_host=self.site.connection(migration.deployment_host),
            private_key=self.private_key,
            mode=migration.decommission,
            node_scores={name: node.score for name, node in zip(migration.nodes, self.nodes)},
            drill_required=self.drill is not None,
            drill_to=self.drill.toNode if self.drill else None,
            handover=self.handover.originalEngine,
            opts=self._child([self.evidence]),
        )

    def _evidence(self, migration, after) -> MigrationEvidence:
        """The logs of every step and each node's final vm-status, once the site is in its end state."""
        backup, he = migration.backup, migration.hosted_engine
        vm_status = [list(host_facts.VM_STATUS)]
        label = known_hosts_name(he["engineVm"]["address"], he["engineVm"]["port"])
        engine_vm = self.deployment.engineVmHostKey.apply(
            lambda key: {"name": "engine-vm", **he["engineVm"], "knownHosts": f"{label} {key}\n"}
        )
        sources = [
            {
                "connection": self.site.connection(migration.backup_server),
                "paths": [posixpath.join(backup.directory, backup.file_name + ".log")],
            },
            {
                "connection": self.site.connection(migration.deployment_host),
                "paths": ["/var/log/ovirt-hosted-engine-setup"],
                "commands": vm_status,
            },
            {"connection": engine_vm, "paths": ["/var/log/ovirt-engine/setup", "/var/log/ovirt-engine/host-deploy"]},
            *(
                {"connection": self.site.connection(host), "paths": [], "commands": vm_status}
                for host in migration.nodes
            ),
        ]
        stem = backup.file_name.removesuffix(".backup")
        self.evidence_location = posixpath.join(backup.directory, f"evidence-{stem}.tar.gz")
        return MigrationEvidence(
            "evidence",
            sources=sources,
            backup_server=self.site.connection(migration.backup_server),
            location=self.evidence_location,
            private_key=self.private_key,
            secrets=self.secrets,
            opts=self._child([after]),
        )

    def _child(self, depends_on=()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _storage_export(self, export) -> StorageExport:
        slug = export.path.strip("/").replace("/", "-")
        return StorageExport(
            f"export-{export.host}-{slug}",
            connection=self.site.connection(export.host),
            private_key=self.private_key,
            path=export.path,
            clients=export.clients,
            options=export.options,
            opts=self._child(),
        )

    def _multipath_override(self, override) -> MultipathOverride:
        if not override.vendor_required:
            for setting in multipath_conf.vendor_only_settings(override.settings):
                pulumi.log.warn(
                    f"multipath drop-in {override.file} on {override.host} changes {setting}; keep VDSM's value "
                    f"unless the storage vendor requires it, and then set `vendorRequired: true` on that override"
                )
        return MultipathOverride(
            f"multipath-{override.host}-{override.file}",
            connection=self.site.connection(override.host),
            private_key=self.private_key,
            file=override.file,
            settings=override.settings,
            opts=self._child(),
        )
