"""Moves a standalone oVirt Engine to a self-hosted engine; one stack per site (stacks/)."""

import pulumi

from components import preflight, report, site_config
from components.migration import SelfHostedEngineMigration

site = site_config.load()
secrets = site_config.secrets(site)
# The preflight (components/preflight/) releases the SSH key to the resources only once every check passed.
private_key, preflight_results = preflight.run(site, site_config.private_key(), secrets.get("adminPassword"))
migration = SelfHostedEngineMigration("site", site, private_key, secrets)
migration.preflight_results = preflight_results
for key, value in migration.outputs().items():
    pulumi.export(key, value)
# The migration report (Markdown): steps, hosts, timings, preflight, backup, Engine URL, node scores.
pulumi.export("report", report.program_report(migration, pulumi.get_stack()))
