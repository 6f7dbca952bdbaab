"""The providers' base: one error shape, one diff, the properties and options every resource is made with."""

import pulumi
import pytest

from providers import base
from providers.errors import StepError


def test_a_step_error_names_the_host_the_command_what_it_printed_and_the_next_step():
    failed = StepError(
        "engine",
        "failed (exit status 1)",
        "Fix the cause there, then run `pulumi up` again.",
        command="engine-backup --mode=backup",
        output="FATAL: no space left",
    )
    assert str(failed) == (
        "engine: `engine-backup --mode=backup` failed (exit status 1):\nFATAL: no space left\n"
        "Fix the cause there, then run `pulumi up` again."
    )
    assert str(StepError("deploy", "nothing to deploy from", "Run `pulumi up` again.")) == (
        "deploy: nothing to deploy from. Run `pulumi up` again."
    )


OLD = {"path": "/a", "connection": {"name": "s", "address": "192.0.2.1", "port": 22}, "settings": {"b": 1, "a": 2}}


@pytest.mark.parametrize(
    "news, drifted, changes, replaces",
    [
        (OLD, [], False, []),
        ({**OLD, "settings": {"a": 2, "b": 1}}, [], False, []),
        (OLD, ["state"], True, []),
        ({**OLD, "settings": {"a": 3}}, [], True, []),
        ({**OLD, "connection": {**OLD["connection"], "port": 2222}}, [], False, []),
        (
            {**OLD, "connection": {**OLD["connection"], "address": "192.0.2.2"}, "path": "/b"},
            [],
            True,
            ["path", "connection"],
        ),
    ],
)
def test_diff_tells_updates_from_replacements_through_each_propertys_view(news, drifted, changes, replaces):
    found = base.diff(
        OLD,
        news,
        replace=["path", ("connection", base.host_identity)],
        update=[("settings", base.canonical)],
        drifted=drifted,
        delete_before_replace=True,
    )
    assert (found.changes, found.replaces, found.delete_before_replace) == (changes, replaces, True)


def test_properties_hold_the_inputs_and_unknown_outputs_with_when_they_ran():
    assert base.properties({"path": "/a"}, ("state",)) == {
        "path": "/a",
        "state": None,
        "startedAt": None,
        "finishedAt": None,
    }


def test_options_seal_the_secrets_and_protect_by_a_default_the_caller_may_lift():
    sealed = base.options(pulumi.ResourceOptions(protect=False), ["privateKey"], protect=True)
    assert sealed.protect is False and sealed.additional_secret_outputs == ["privateKey"]
    assert base.options(None, ["adminPassword"], protect=True).protect is True
    assert base.options(None, ["privateKey"]).protect is None
