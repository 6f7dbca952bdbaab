"""A deploy that failed before on the deployment host (its record beside the backup's copy, or the bootstrap VM
HostedEngineLocal still running while the deploy's unit is not loaded; a deploy that runs is followed): it leaves the
host half-configured, so the deploy runs again only when `hostedEngine.retryFailedDeploy` asks, after ovirt-hosted-engine-cleanup (ovirt-hosted-engine-setup's own advice:
"fix accordingly or re-deploy from scratch")."""

from __future__ import annotations

import posixpath

from components.preflight.facts import out
from providers import records, remote_job
from providers.hosted_engine_deployment import (
    CLEANUP,
    DEPLOY,
    LOCAL_VM,
    RETRY,
    failed_record,
    previous_attempt,
    retry_next_step,
)


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    deploy, he = migration.deployment_host, migration.hosted_engine
    path = failed_record(he["backupDirectory"], posixpath.basename(migration.backup.file_name))
    unit = hosts.run(deploy, *remote_job.show(DEPLOY))
    record = records.parse(out(hosts.run(deploy, "cat", path)))
    domstate = hosts.run(deploy, "virsh", "-r", "domstate", LOCAL_VM)
    if unit is None or domstate is None:
        return  # the deployment host cannot be asked: reach says so
    attempt = previous_attempt(remote_job.unit_state(unit.stdout), record, domstate.exit_status == 0)
    if attempt and not he["retryFailedDeploy"]:
        findings.errors.append(
            f"a deploy failed on the deployment host ({deploy}) before ({attempt['how']}): it is not deployed over "
            f"without being asked. " + retry_next_step(deploy)
        )
    elif attempt:
        findings.notes.append(
            f"`{RETRY}` is set: `up` runs `{' '.join(CLEANUP)}` on {deploy} (inside the outage window), checks the "
            f"host is clean and deploys again from the verified backup"
        )
    elif he["retryFailedDeploy"]:
        findings.notes.append(f"`{RETRY}` is set, but no deploy failed on {deploy}: nothing will be cleaned")
