"""At least two hosted-engine nodes, so that the Engine VM is highly available."""

from __future__ import annotations


def check(site, hosts, facts, findings, password, api):
    nodes = site.migration.nodes
    if len(nodes) + 1 < 2:
        findings.warnings.append(
            f"only the deployment host will be a hosted-engine node (`hostedEngineNodes` is "
            f"{nodes or 'empty'}): the Engine VM is not highly available with fewer than two; "
            f"add a host to `hostedEngineNodes`"
        )
