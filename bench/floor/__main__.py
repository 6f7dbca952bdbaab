"""The engine floor: what Pulumi itself costs for the migration's number and shape of resources.

`prepare` independent do-nothing dynamic resources (the exports and overrides), then a chain of
`chain` do-nothing resources each depending on the one before (backup, deployment, nodes), all
children of one component, as the migration's program has them.
"""

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult


class Nothing(ResourceProvider):
    def create(self, props):
        return CreateResult(f"nothing-{props['index']}", props)

    def diff(self, _id, olds, news):
        return DiffResult(changes=olds.get("index") != news.get("index"))

    def update(self, _id, _olds, news):
        return UpdateResult(news)

    def delete(self, _id, _props):
        pass


class NoOp(Resource):
    def __init__(self, name, index, opts=None):
        super().__init__(Nothing(), name, {"index": index}, opts)


config = pulumi.Config()
prepare, chain = config.require_int("prepare"), config.require_int("chain")
site = pulumi.ComponentResource("bench:index:Floor", "site")
first = [NoOp(f"prepare-{i}", i, pulumi.ResourceOptions(parent=site)) for i in range(prepare)]
previous = first
for j in range(chain):
    previous = [NoOp(f"step-{j}", prepare + j, pulumi.ResourceOptions(parent=site, depends_on=previous))]
site.register_outputs({})
