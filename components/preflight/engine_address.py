"""The FQDN's address is free for the Engine VM when the deploy starts it: which machine answers there today,
and how `hostedEngine.addressHandover` frees it (providers/address_handover.py)."""

from __future__ import annotations

import ipaddress

from components.preflight.facts import addresses
from providers import host_facts


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    address, fqdn = facts.get("engine_address"), migration.hosted_engine["fqdn"]
    if not address:
        return  # names_and_dns says the FQDN does not resolve
    cidr = migration.hosted_engine["vm"].get("staticCIDR")
    static = str(ipaddress.ip_interface(cidr).ip) if cidr else None  # the settings checked its form
    if static and static != str(ipaddress.ip_address(address)):
        findings.errors.append(
            f"`hostedEngine.vm.staticCIDR` gives the Engine VM {static}, but {fqdn} resolves to {address}: the "
            'deploy checks the new Engine at its FQDN and fails at its end, inside the outage window ("Engine VM IP '
            f"address is {static} while the engine's he_fqdn ... resolves to {address}\"); give {address} or fix the DNS"
        )
    original, mode = migration.original_engine, migration.hosted_engine["addressHandover"]
    if hosts.conn(original) is None:
        return  # the connection said why (or the handover's record, once it has powered the machine off)
    if address in {str(i.ip) for i in addresses(hosts, original)}:
        _held_by_original(findings, fqdn, address, original, mode)
        return
    answer = hosts.run(migration.deployment_host, *host_facts.PING, address)
    if answer is not None and answer.exit_status == 0:
        findings.errors.append(
            f"{address}, {fqdn}'s address, answers `ping` from {migration.deployment_host} but is not an address of "
            f"the original Engine machine ({original}): the Engine VM takes it at the deploy, and with two machines "
            "on one address its health check fails inside the outage window; free the address, or point the FQDN "
            "at a free one"
        )


def _held_by_original(findings, fqdn, address, original, mode):
    if mode == "power-off":
        findings.warnings.append(
            f"{fqdn} ({address}) is answered by the original Engine machine {original} today: with "
            "`hostedEngine.addressHandover: power-off` it is shut down once the backup is copied off and verified, "
            "before the deploy (inside the outage window), so the Engine VM can take the address; the way back then "
            f"starts with powering {original} on from its console or power management"
        )
        return
    findings.errors.append(
        f"{fqdn} resolves to {address}, which the original Engine machine {original} holds, and the Engine VM must "
        "take that address: with both up the deploy's health check reaches the old machine and the deploy fails "
        "inside the outage window. Set `hostedEngine.addressHandover: power-off` to shut it down after the backup "
        "is copied off, or move it to another address first and set `hostedEngine.addressHandover: none`"
    )
