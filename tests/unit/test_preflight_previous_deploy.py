"""Preflight row 21, previous_deploy: what the deployment host answers in, findings out (tests/unit/cases/
previous_deploy/), no host."""

from types import SimpleNamespace

import pytest

from components.preflight import previous_deploy
from components.preflight.facts import Findings
from providers.ssh import Result
from tests.harness import cases

RECORD = "/root/backup/engine.backup.deploy-failed"


class AnsweringHost:
    """The preflight's view of the hosts (facts.Site.run) for one deployment host with scripted answers."""

    def __init__(self, answers: dict):
        self.answers, self.asked = answers, []

    def run(self, name, *argv):
        self.asked.append((name, " ".join(argv)))
        status, stdout = self.answers[" ".join(argv)]
        return Result(status, stdout, "")


def site(retry: bool):
    migration = SimpleNamespace(
        deployment_host="deploy",
        hosted_engine={"backupDirectory": "/root/backup", "retryFailedDeploy": retry},
        backup=SimpleNamespace(file_name="engine.backup"),
    )
    return SimpleNamespace(migration=migration)


@pytest.mark.parametrize("case", cases("previous_deploy"))
def test_a_failed_deploy_is_deployed_over_only_when_asked(case):
    hosts = AnsweringHost(
        {
            "systemctl show ovirt-she-hosted-engine-deploy --property=LoadState,ActiveState,SubState,Result,"
            "ExecMainStatus": (0, case["unit"]),
            f"cat {RECORD}": (0, case["record"]) if case["record"] else (1, ""),
            "virsh -r domstate HostedEngineLocal": (0, "running\n\n") if case["bootstrap_vm"] else (1, ""),
        }
    )
    findings = Findings()
    previous_deploy.check(site(case["retry"]), hosts, {}, findings, None, {})
    for kind in ("errors", "notes"):  # at most one of each, holding every part the case names
        found = getattr(findings, kind)
        assert len(found) == min(1, len(case[kind])) and all(part in "".join(found) for part in case[kind]), found
    assert findings.warnings == []
    assert {name for name, _ in hosts.asked} == {"deploy"}
