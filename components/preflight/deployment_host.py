"""The deployment host: virtualization flags, no third-party watchdog, its default gateway and the
NIC for the management bridge (procedure 2.2, 6.7)."""

from __future__ import annotations

import re

from components.preflight.facts import out


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    deploy = migration.deployment_host
    he = migration.hosted_engine
    cpuinfo = out(hosts.run(deploy, "cat", "/proc/cpuinfo"))
    if cpuinfo is not None and not re.search(r"^flags\s*:.*\b(vmx|svm)\b", cpuinfo, re.M):
        findings.errors.append(
            f"the deployment host ({deploy}) has no vmx/svm CPU flag: enable virtualization in "
            f"its BIOS settings (procedure 2.2), or choose another `roles.deploymentHost`"
        )
    watchdog = hosts.run(deploy, "systemctl", "is-active", "watchdog")
    if watchdog is not None and watchdog.exit_status == 0:
        findings.errors.append(
            f"the deployment host ({deploy}) runs a third-party watchdog (watchdog.service), which "
            f"interferes with VDSM's (procedure 2.2): remove it (`dnf remove watchdog`)"
        )
    route = out(hosts.run(deploy, "ip", "route", "show", "default"))
    if route is not None:
        via = re.search(r"^default via (\S+)", route, re.M)
        if not via:
            findings.errors.append(
                f"the deployment host ({deploy}) has no default gateway (`ip route show default`): "
                f"configure one; `hostedEngine.gateway` must be it"
            )
        elif via.group(1) != he["gateway"]:
            findings.warnings.append(
                f"`hostedEngine.gateway` is {he['gateway']} but the deployment host's default gateway is {via.group(1)}"
            )
    links = out(hosts.run(deploy, "ip", "-o", "link", "show"))
    if links is not None:
        names = set(re.findall(r"^\d+:\s+([^:@\s]+)", links, re.M))
        if he["bridgeInterface"] not in names:
            findings.errors.append(
                f"`hostedEngine.bridgeInterface` is {he['bridgeInterface']}, which the deployment host "
                f"({deploy}) does not have (`ip -o link show`: {', '.join(sorted(names - {'lo'}))}): "
                f"name the NIC for the management bridge"
            )
