"""SelfHostedEngineMigration: the site's whole move, in the procedure's order.

Storage and multipath preparation come first; later steps depend on them explicitly, so
`pulumi preview` reads as the migration plan and `pulumi up` never reorders it.
"""

from __future__ import annotations

import pulumi

from components.site_config import SiteConfig
from providers import multipath_conf
from providers.multipath_override import MultipathOverride


class SelfHostedEngineMigration(pulumi.ComponentResource):
    def __init__(self, name: str, site: SiteConfig, private_key: pulumi.Input[str], opts=None):
        super().__init__("ovirt-she:index:SelfHostedEngineMigration", name, None, opts)
        self.site, self.private_key = site, private_key
        self.multipath_overrides = [self._multipath_override(o) for o in site.multipath_overrides]
        self.register_outputs({})

    def _child(self, depends_on=()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

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
