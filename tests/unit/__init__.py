"""The unit tier: no lab, no network, no Pulumi engine."""
