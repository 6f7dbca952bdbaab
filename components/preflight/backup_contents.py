"""What the original Engine's backup will hold (the engine, DWH, Keycloak and Cinderlib databases, Grafana), read
from its setup configuration as engine-backup reads it, and whether the deploy can restore each database."""

from __future__ import annotations

import re

SETUP_POST = "/etc/ovirt-engine-setup.conf.d/20-setup-ovirt-post.conf"
KEYCLOAK_CONF = "/etc/ovirt-engine/engine.conf.d/12-setup-keycloak.conf"
# engine-backup.sh: the service's enable key (`otopi-config-query match --value bool:True`), the prefix of its
# *_DB_* credentials and the file setup wrote them to; a database is dumped when its service is enabled and its
# *_DB_USER is set.
DATABASES = (
    ("engine", "OVESETUP_ENGINE_CORE/enable", "ENGINE", "/etc/ovirt-engine/engine.conf.d/10-setup-database.conf"),
    ("DWH", "OVESETUP_DWH_CORE/enable", "DWH", "/etc/ovirt-engine-dwh/ovirt-engine-dwhd.conf.d/10-setup-database.conf"),
    ("Keycloak", "OVESETUP_CONFIG/keycloakEnable", "KEYCLOAK", KEYCLOAK_CONF),
    (
        "Cinderlib",
        "OVESETUP_CL_DB/enable",
        "CINDERLIB",
        "/etc/ovirt-engine/engine.conf.d/10-setup-cinderlib-database.conf",
    ),
)
GRAFANA_KEY = "OVESETUP_GRAFANA_CORE/enable"
FIX = "move it to the original Engine machine (localhost, unsecured) before the backup"


def check(site, hosts, facts, findings, password, api):
    """Procedure 5 and 6: the original Engine's setup files say which databases (engine, DWH, Keycloak, Cinderlib)
    and whether Grafana the backup will hold; the deploy restores it with `engine-backup --provision-all-databases`,
    which provisions only databases on localhost without TLS, so a remote or secured one fails the restore."""
    engine = site.migration.original_engine
    post = hosts.run(engine, "cat", SETUP_POST)
    if post is None:
        return
    if post.exit_status != 0:
        findings.errors.append(
            f"the original Engine ({engine}) has no readable {SETUP_POST} "
            f"({(post.stderr or post.stdout).strip()}): engine-backup decides from it which "
            f"databases the backup holds, so it must exist; run engine-setup on the original Engine"
        )
        return
    enabled = otopi_values(post.stdout)
    keycloak = hosts.run(engine, "cat", KEYCLOAK_CONF)
    keycloak_conf = shell_values(keycloak.stdout) if keycloak is not None and keycloak.exit_status == 0 else {}
    # KEYCLOAK_BUNDLED=true: the bundled Keycloak was configured (CONFIGURED on the next engine-setup)
    facts["original_keycloak"] = keycloak_conf.get("KEYCLOAK_BUNDLED", "").lower() == "true"
    held, absent = [], []
    for what, key, prefix, path in DATABASES:
        if enabled.get(key) is not True:
            absent.append(f"{what} DB")
            continue
        values = keycloak_conf if path == KEYCLOAK_CONF else _read(hosts, engine, path)
        user = values.get(f"{prefix}_DB_USER")
        if not user:
            absent.append(f"{what} DB")
            if prefix == "ENGINE":
                findings.errors.append(
                    f"the original Engine ({engine}) has no ENGINE_DB_USER in {path}: engine-backup "
                    f"would leave the engine database out of the backup; run engine-setup on it"
                )
            continue
        host = values.get(f"{prefix}_DB_HOST", "")
        name = values.get(f"{prefix}_DB_DATABASE", "?")
        held.append(f"{what} DB {name}@{host}")
        if host != "localhost":
            findings.errors.append(
                f"the original Engine's {what} database {name} is on {host} (`{prefix}_DB_HOST` in {path}), not "
                f"localhost: the deploy restores the backup with `engine-backup --provision-all-databases`, which can "
                f"provision a database only in localhost, so the restore would fail; {FIX}"
            )
        elif (
            values.get(f"{prefix}_DB_SECURED", "False") != "False"
            or values.get(f"{prefix}_DB_SECURED_VALIDATION", "False") != "False"
        ):
            findings.errors.append(
                f"the original Engine's {what} database {name} is reached over TLS (`{prefix}_DB_SECURED` in {path}): "
                f"the deploy restores the backup with `engine-backup --provision-all-databases`, which cannot "
                f"provision a database with a secured connection, so the restore would fail; {FIX}"
            )
    # Grafana: its SQLite grafana.db, dumped when enabled; its read-only user lives in the DWH database
    (held if enabled.get(GRAFANA_KEY) is True else absent).append("Grafana")
    facts["backup_contents"] = held
    # What the backup will hold goes with what was read: a note would mark the check skipped (collect's _result).
    findings.read.append(
        f"{engine}: backup holds {', '.join(held) or 'nothing'}" + (f"; not {', '.join(absent)}" if absent else "")
    )


def _read(hosts, name, path) -> dict:
    result = hosts.run(name, "cat", path)
    return shell_values(result.stdout) if result is not None and result.exit_status == 0 else {}


def shell_values(text: str) -> dict:
    """KEY="value" lines of a setup file, as engine-backup sources them (the last one wins)."""
    values = {}
    for line in text.splitlines():
        found = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if found:
            value = found.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[found.group(1)] = value
    return values


def otopi_values(text: str) -> dict:
    """`SECTION/key=type:value` lines of an otopi config file (otopi common.parseTypedValue: a bool is false only for
    0, f, F, false, False)."""
    values = {}
    for line in text.splitlines():
        found = re.match(r"\s*([A-Za-z0-9_]+/[A-Za-z0-9_]+)\s*=\s*([a-z-]+):(.*)$", line)
        if found:
            kind, value = found.group(2), found.group(3).strip()
            values[found.group(1)] = (
                value not in ("0", "f", "F", "false", "False") if kind == "bool" else None if kind == "none" else value
            )
    return values
