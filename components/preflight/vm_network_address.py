"""The Engine VM's address: a static one in the deployment host's subnet, or a DHCP reservation for
its MAC (procedure 6.13, 6.14)."""

from __future__ import annotations

import ipaddress

from components.preflight.facts import addresses


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    vm = migration.hosted_engine["vm"]
    static = vm.get("staticCIDR")
    if static:
        try:
            wanted = ipaddress.ip_interface(static)
        except ValueError:
            findings.errors.append(
                f"`hostedEngine.vm.staticCIDR` is {static!r}: give an address with its prefix, e.g. 192.0.2.60/24"
            )
            return
        interfaces = addresses(hosts, migration.deployment_host)
        if interfaces and not any(wanted.ip in i.network for i in interfaces):
            subnets = ", ".join(str(i.network) for i in interfaces)
            findings.errors.append(
                f"`hostedEngine.vm.staticCIDR` {static} is not in the deployment host's subnet "
                f"({subnets}, from `ip -o -4 addr show`): the Engine VM's static address must be "
                f"in the same subnet as the host (procedure 6.14)"
            )
    else:
        mac = vm.get("macAddress")
        findings.warnings.append(
            f"the Engine VM takes its address by DHCP: make sure the DHCP server has a reservation for MAC {mac} "
            f"(`hostedEngine.vm.macAddress`) giving {migration.hosted_engine['fqdn']}'s address (procedure 6.13)"
            if mac
            else "the Engine VM takes its address by DHCP with a random MAC, for which no reservation can "
            "exist: set `hostedEngine.vm.macAddress` and reserve it, or set `hostedEngine.vm.staticCIDR`"
        )
