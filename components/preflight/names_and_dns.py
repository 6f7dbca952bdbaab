"""The new Engine's FQDN is the original's, and the deployment host resolves it and itself forward and
reverse, to an address that is not the host's own (procedure 6.9; the role's FQDN validations)."""

from __future__ import annotations

from components.preflight.facts import addresses, out, resolve


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    fqdn = migration.hosted_engine["fqdn"]
    original = out(hosts.run(migration.original_engine, "hostname", "-f"))
    if original is not None:
        original = original.strip()
        facts["original_fqdn"] = original
        if original.lower() != fqdn.lower():
            findings.errors.append(
                f"`hostedEngine.fqdn` is {fqdn}, but the original Engine "
                f"(`roles.originalEngine` = {migration.original_engine}) is {original}: the new "
                f"Engine must have the original's FQDN; set `hostedEngine.fqdn` to {original}"
            )
    deploy = migration.deployment_host
    deploy_fqdn = out(hosts.run(deploy, "hostname", "-f"))
    if deploy_fqdn is None:
        return
    deploy_fqdn = facts["deploy_fqdn"] = deploy_fqdn.strip()
    engine_address = facts["engine_address"] = resolve(hosts, deploy, fqdn, "`hostedEngine.fqdn`", findings)
    facts["deploy_address"] = resolve(
        hosts, deploy, deploy_fqdn, f"the deployment host `roles.deploymentHost` = {deploy}", findings
    )
    own = {i.ip for i in addresses(hosts, deploy)} | {facts["deploy_address"]}
    if engine_address and engine_address in {str(a) for a in own if a}:
        findings.errors.append(
            f"`hostedEngine.fqdn` {fqdn} resolves to {engine_address}, an address of the deployment "
            f"host {deploy_fqdn}: the Engine VM needs an address of its own; fix the DNS record"
        )
