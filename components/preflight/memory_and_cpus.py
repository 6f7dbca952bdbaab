"""The Engine VM has at least the original Engine machine's memory, and no more vCPUs than the
deployment host has (procedure 6.12)."""

from __future__ import annotations

import re

from components.preflight.facts import ENGINE_MIN_MEMORY_MB, out


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    vm = migration.hosted_engine["vm"]
    meminfo = out(hosts.run(migration.original_engine, "cat", "/proc/meminfo"))
    match = re.search(r"^MemTotal:\s+(\d+)\s+kB", meminfo or "", re.M)
    if match:
        original_mb = int(match.group(1)) // 1024
        wanted = max(original_mb, ENGINE_MIN_MEMORY_MB)
        if vm["memoryMB"] < wanted:
            findings.errors.append(
                f"`hostedEngine.vm.memoryMB` is {vm['memoryMB']}, less than the original Engine "
                f"machine's {original_mb} MiB: the Engine VM must have as much RAM as the machine "
                f"it replaces (procedure 6.12); set `hostedEngine.vm.memoryMB` to at least {wanted}"
            )
    elif meminfo is not None or hosts.conn(migration.original_engine):
        findings.errors.append(
            f"the original Engine's memory could not be read (`cat /proc/meminfo` on "
            f"`roles.originalEngine` = {migration.original_engine})"
        )
    cpus = out(hosts.run(migration.deployment_host, "nproc"))
    if cpus and cpus.strip().isdigit() and vm["vcpus"] > int(cpus):
        findings.errors.append(
            f"`hostedEngine.vm.vcpus` is {vm['vcpus']}, more than the deployment host's "
            f"{int(cpus)} CPUs: set `hostedEngine.vm.vcpus` to at most {int(cpus)}"
        )
