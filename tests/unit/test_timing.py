"""When each step ran: a create's or update's outputs carry its start and end (the report reads them)."""

import re

from pulumi.dynamic import CreateResult

from providers.timing import timed

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_timed_adds_started_and_finished_to_the_outputs_and_keeps_the_rest():
    class Provider:
        @timed
        def create(self, props):
            return CreateResult("id", {**props, "startedAt": None})

    outs = Provider().create({"path": "/x"}).outs
    assert outs["path"] == "/x" and STAMP.match(outs["startedAt"]) and STAMP.match(outs["finishedAt"])
    assert outs["startedAt"] <= outs["finishedAt"]
