"""Shared fixtures: a client key, a running lab, and a stack of this project wired to it."""

import pytest

from lab.testing import LabProcess, make_client_key
from tests.harness import SUMMARIES, ProjectStack, lab_config, pinned_ports_site


def pytest_terminal_summary(terminalreporter):
    """What a test ran of another suite (oVirt's system tests), counted where `./run tests` ends."""
    for line in SUMMARIES:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def client_key(tmp_path_factory):
    """The administrator's SSH key pair for the test labs: (private path, public path)."""
    return make_client_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, client_key):
    with LabProcess(
        tmp_path_factory.mktemp("lab"), authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as running:
        yield running


@pytest.fixture(scope="module")
def lab_stack(tmp_path_factory, lab, client_key):
    """A stack configured to reach the module's lab; each test module adds its own settings."""
    stack = ProjectStack(tmp_path_factory.mktemp("project"))
    stack.lab_settings = lab_config(lab)
    stack.private_key = client_key[0].read_text()
    yield stack


@pytest.fixture(scope="module")
def migration_lab(tmp_path_factory, client_key):
    """A fresh default site for a whole migration: its new Engine API and Engine VM ports are known
    before the deploy (`lab.ports`), so a stack can be configured for them up front."""
    site, ports = pinned_ports_site(tmp_path_factory.mktemp("site") / "site.yaml")
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as running:
        running.ports = ports
        yield running
