"""Moves a standalone oVirt Engine to a self-hosted engine; one stack per site (stacks/)."""

import pulumi

from components import site_config
from components.migration import SelfHostedEngineMigration

site = site_config.load()
migration = SelfHostedEngineMigration("site", site, site_config.private_key(), site_config.secrets(site))
for key, value in migration.outputs().items():
    pulumi.export(key, value)
