"""What the restore needs from the original Engine, checked by the preflight (components/preflight/required_networks.py,
backup_contents.py, admin_principal.py) through the real engine: a site that breaks a rule fails `pulumi preview` with
the check's message and changes nothing; the default site passes them. Also the lab Engine API's cluster networks,
read with the real ovirtsdk4 as the check reads them."""

import copy
import re

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
import pytest
import yaml
from pulumi import automation as auto

from lab.commands.engine_backup import read_backup
from lab.engine_api import EngineApi, load_model
from lab.testing import LabProcess, run, site_variant
from tests.harness import PROJECT_DIR, get, restore_deploy
from tests.test_preflight import ADMIN_PASSWORD, READ_ONLY, make_stack, snapshot

READS = READ_ONLY + ("cat /etc/", "ls -1 ", "iscsiadm -m discovery ")
KEYCLOAK_ADMIN = "admin@ovirt@internalsso"
HOOKS = "/usr/share/ansible/collections/ansible_collections/ovirt/ovirt/roles/hosted_engine_setup/hooks/after_add_host"
DWH_CONF = "/etc/ovirt-engine-dwh/ovirt-engine-dwhd.conf.d/10-setup-database.conf"
ENGINE_CONF = "/etc/ovirt-engine/engine.conf.d/10-setup-database.conf"
KEYCLOAK_CONF = "/etc/ovirt-engine/engine.conf.d/12-setup-keycloak.conf"
POST_CONF = "/etc/ovirt-engine-setup.conf.d/20-setup-ovirt-post.conf"
# 12-setup-keycloak.conf as ovirt-engine-keycloak's config/keycloak.py writes it for the bundled Keycloak.
KEYCLOAK_BUNDLED = """KEYCLOAK_BUNDLED=true
ENGINE_SSO_ENABLE_EXTERNAL_SSO=true
ENGINE_SSO_EXTERNAL_SSO_LOGOUT_URI="${ENGINE_URI}/callback"
EXTERNAL_OIDC_CLIENT_ID=ovirt-engine-internal
EXTERNAL_OIDC_CLIENT_SECRET="lab-client-secret"
EXTERNAL_OIDC_USER_INFO_END_POINT=https://engine.lab.example/ovirt-engine-auth/realms/ovirt-internal/protocol/openid-connect/userinfo
EXTERNAL_OIDC_TOKEN_END_POINT=https://engine.lab.example/ovirt-engine-auth/realms/ovirt-internal/protocol/openid-connect/token
EXTERNAL_OIDC_LOGOUT_END_POINT=https://engine.lab.example/ovirt-engine-auth/realms/ovirt-internal/protocol/openid-connect/logout
EXTERNAL_OIDC_HTTPS_PKI_TRUST_STORE="/etc/pki/ovirt-engine/.truststore"
EXTERNAL_OIDC_HTTPS_PKI_TRUST_STORE_PASSWORD="mypass"
EXTERNAL_OIDC_SSL_VERIFY_CHAIN=true
EXTERNAL_OIDC_SSL_VERIFY_HOST=false
KEYCLOAK_DB_MAX_CONNECTIONS=150
KEYCLOAK_DB_HOST="localhost"
KEYCLOAK_DB_PORT="5432"
KEYCLOAK_DB_USER="ovirt_engine_keycloak"
KEYCLOAK_DB_PASSWORD="lab-keycloak-db-password"
KEYCLOAK_DB_DATABASE="ovirt_engine_keycloak"
KEYCLOAK_DB_SECURED="False"
KEYCLOAK_DB_SECURED_VALIDATION="False"
KEYCLOAK_DB_DRIVER="org.postgresql.Driver"
KEYCLOAK_DB_URL="jdbc:postgresql://localhost:5432/ovirt_engine_keycloak?sslfactory=org.postgresql.ssl.NonValidatingFactory"
"""


def engine_files(data) -> dict:
    engine = next(h for h in data["hosts"] if h["name"] == "engine")
    return {f["path"]: f for f in engine["files"]}


def model_with(tmp, edit):
    """An Engine model variant written beside the site file; returns its path for `ovirt.engine_model`."""
    model = copy.deepcopy(load_model())
    edit(model)
    path = tmp / "model.yaml"
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    return str(path)


def add_networks(model):
    """storage-net required in cluster Default (as an attachment is by default), vm-net attached but not required,
    backup-net required but non_operational there (the engine enforces neither on a new host)."""
    model["networks"] += [
        {"name": "storage-net", "datacenter": "Default", "usages": [], "clusters": ["Default"], "mtu": 9000},
        {
            "name": "vm-net",
            "datacenter": "Default",
            "usages": ["vm"],
            "clusters": [{"name": "Default", "required": False}],
        },
        {
            "name": "backup-net",
            "datacenter": "Default",
            "usages": [],
            "clusters": [{"name": "Default", "required": True, "status": "non_operational"}],
        },
    ]


def lab_for(tmp_path_factory, client_key, name, modify):
    tmp = tmp_path_factory.mktemp(name)
    site = site_variant(tmp / "site.yaml", lambda d: modify(d, tmp))
    return LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    )


def check_results(output: str) -> dict:
    """{check: result} from a preview's diff of the Preflight resource's `results`."""
    return dict(re.findall(r'check\s*:\s*"(\w+)"(?:(?!check\s*:).)*?result\s*:\s*"(\w+)"', output, re.S))


def assert_read_only(lab, before_count, before_state):
    ran = lab.commands()[before_count:]
    assert ran, "the preflight read nothing from the site"
    assert [c["command"] for c in ran if c["kind"] != "exec" or not c["command"].startswith(READS)] == []
    assert snapshot(lab) == before_state


def failed_preview(stack, lab) -> str:
    before_count, before_state = len(lab.commands()), snapshot(lab)
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview()
    assert_read_only(lab, before_count, before_state)
    assert stack.stack.export_stack().deployment.get("resources") in (None, [])
    text = str(failed.value)
    assert "preflight found" in text and ADMIN_PASSWORD not in text
    return text


def passed_preview(stack, lab) -> str:
    before_count, before_state = len(lab.commands()), snapshot(lab)
    result = stack.preview()
    assert_read_only(lab, before_count, before_state)
    output = result.stdout + result.stderr
    assert "preflight found" not in output
    return output


# --- the lab Engine API's cluster networks, with the real ovirtsdk4 -----------------------------------------


def test_cluster_networks_carry_required_status_and_the_cluster_roles_as_the_rest_api_maps_them(tmp_path):
    model = copy.deepcopy(load_model())
    add_networks(model)
    api = EngineApi(str(tmp_path), model).start()
    connection = sdk.Connection(
        url=api.url, username="admin@internal", password="lab-admin-password", ca_file=api.ca_file, timeout=10
    )
    try:
        system = connection.system_service()
        (cluster,) = system.clusters_service().list()
        listed = system.clusters_service().cluster_service(cluster.id).networks_service().list()
        found = {n.name: n for n in listed}
        assert sorted(found) == ["backup-net", "ovirtmgmt", "storage-net", "vm-net"]
        assert [(found[n].required, found[n].status) for n in ("ovirtmgmt", "storage-net", "vm-net", "backup-net")] == [
            (True, types.NetworkStatus.OPERATIONAL),
            (True, types.NetworkStatus.OPERATIONAL),
            (False, types.NetworkStatus.OPERATIONAL),
            (True, types.NetworkStatus.NON_OPERATIONAL),
        ]
        assert {u.value for u in found["ovirtmgmt"].usages} == {
            "vm",
            "management",
            "display",
            "migration",
            "default_route",
        }
        assert found["ovirtmgmt"].display is True and found["storage-net"].display is False
        assert all(n.cluster.id == cluster.id for n in listed)
        # NetworkMapper: the top-level collection has no network_cluster row: only `vm`, no required/status
        top = {n.name: n for n in system.networks_service().list()}
        assert [u.value for u in top["ovirtmgmt"].usages] == ["vm"] and top["storage-net"].usages == []
        assert top["ovirtmgmt"].required is None and top["ovirtmgmt"].status is None
    finally:
        connection.close()
        api.stop()


def test_the_default_model_requires_only_the_management_network():
    (network,) = load_model()["networks"]
    assert network["name"] == "ovirtmgmt" and network["clusters"] == [
        {"name": "Default", "required": True, "status": "operational"}
    ]


# --- the default site ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_lab(tmp_path_factory, client_key):
    with LabProcess(tmp_path_factory.mktemp("lab"), authorized_keys=[client_key[1]], client_key=client_key[0]) as lab:
        yield lab


def test_the_default_site_passes_the_restore_checks_and_lists_what_the_backup_holds(
    tmp_path_factory, default_lab, client_key
):
    output = passed_preview(make_stack(tmp_path_factory, default_lab, client_key), default_lab)
    results = check_results(output)
    assert {c: results.get(c) for c in ("required_networks", "backup_contents", "admin_principal")} == {
        "required_networks": "passed",
        "backup_contents": "passed",
        "admin_principal": "passed",
    }, results
    assert "/networks" in output  # required_networks read clusters/<id>/networks
    assert (
        '"engine: backup holds engine DB engine@localhost, DWH DB ovirt_engine_history@localhost, Grafana; not '
        'Keycloak DB, Cinderlib DB"' in output
    )


def test_keycloak_with_the_keycloak_admin_as_the_api_user_passes(tmp_path_factory, default_lab, client_key):
    """A backup without Keycloak restored with `enableKeycloak`: the deploy gives Keycloak's admin@ovirt the
    `adminPassword`, so `engineApi.username: admin@ovirt@internalsso` works after the deploy."""
    stack = make_stack(
        tmp_path_factory,
        default_lab,
        client_key,
        lambda s: (s["hostedEngine"].update(enableKeycloak=True), s["engineApi"].update(username=KEYCLOAK_ADMIN)),
    )
    output = passed_preview(stack, default_lab)
    assert check_results(output).get("admin_principal") == "passed"


def test_a_keycloak_api_user_without_keycloak_fails_the_preview(tmp_path_factory, default_lab, client_key):
    stack = make_stack(
        tmp_path_factory, default_lab, client_key, lambda s: s["engineApi"].update(username=KEYCLOAK_ADMIN)
    )
    text = failed_preview(stack, default_lab)
    assert (
        f"`engineApi.username` is {KEYCLOAK_ADMIN}, but neither the original Engine nor "
        "`hostedEngine.enableKeycloak` (false) gives the new Engine Keycloak" in text
    ), text
    assert "set `engineApi.username: admin@internal`, or `hostedEngine.enableKeycloak: true`" in text


# --- a site that breaks all three -------------------------------------------------------------------------


def break_restore(data, tmp):
    files = engine_files(data)
    dwh = files[DWH_CONF]  # a remote DWH database
    dwh["content"] = dwh["content"].replace('DWH_DB_HOST="localhost"', 'DWH_DB_HOST="dwh-db.lab.example"')
    engine = files[ENGINE_CONF]  # the engine database over TLS
    engine["content"] = engine["content"].replace('ENGINE_DB_SECURED="False"', 'ENGINE_DB_SECURED="True"')
    data["ovirt"] = {"engine_model": model_with(tmp, add_networks)}


@pytest.fixture(scope="module")
def broken_lab(tmp_path_factory, client_key):
    with lab_for(tmp_path_factory, client_key, "broken-restore", break_restore) as lab:
        yield lab


def test_a_site_that_breaks_the_restore_rules_fails_the_preview_with_every_message_and_changes_nothing(
    tmp_path_factory, broken_lab, client_key
):
    stack = make_stack(
        tmp_path_factory, broken_lab, client_key, lambda s: s["hostedEngine"].update(enableKeycloak=True)
    )  # engineApi.username stays admin@internal
    text = " ".join(failed_preview(stack, broken_lab).split())
    # required_networks: storage-net only (ovirtmgmt is the management network, vm-net is not required,
    # backup-net is non_operational)
    assert (
        "cluster Default (`hostedEngine.clusterName`) requires the network(s) storage-net, which the fresh "
        "deployment host (deploy) will not have" in text
    ), text
    assert "the following networks are missing on host: 'storage-net'" in text
    assert (
        "make them not required in cluster Default (Compute > Clusters > Default > Logical Networks > Manage "
        "Networks: clear Require)" in text
    )
    assert "examples/required_networks_fix.yml" in text
    assert "vm-net" not in text and "backup-net" not in text
    # backup_contents: the remote DWH database, the secured engine database
    assert (
        "the original Engine's DWH database ovirt_engine_history is on dwh-db.lab.example (`DWH_DB_HOST` in "
        f"{DWH_CONF}), not localhost" in text
    )
    assert "`engine-backup --provision-all-databases`, which can provision a database only in localhost" in text
    assert (
        f"the original Engine's engine database engine is reached over TLS (`ENGINE_DB_SECURED` in {ENGINE_CONF})"
        in text
    )
    assert "move it to the original Engine machine (localhost, unsecured) before the backup" in text
    # admin_principal: admin@internal is refused by the Keycloak the deploy sets up
    assert (
        "`hostedEngine.enableKeycloak` is true, so the new Engine will use Keycloak and the deploy itself logs in "
        f"as {KEYCLOAK_ADMIN}; but `engineApi.username` is admin@internal, which that Engine will refuse" in text
    )
    assert (
        f"set `engineApi.username: {KEYCLOAK_ADMIN}` (its password is `adminPassword`, which the deploy gives it)"
        in text
    )


def networks_only(data, tmp):
    data["ovirt"] = {"engine_model": model_with(tmp, add_networks), "pause_seconds": 0.2}


def test_the_lab_deploy_stops_at_a_host_set_non_operational_for_a_missing_required_network(
    tmp_path_factory, client_key
):
    """The witness of required_networks: the restored Engine sets the fresh host Non Operational for storage-net, the
    role reports event 519, pauses, checks again and fails (05_add_host.yml); no new Engine is left running."""
    with lab_for(tmp_path_factory, client_key, "networks", networks_only) as lab:
        status, out, lock = restore_deploy(lab, pauses=True)
        missing = (
            "code 519: Host she-deploy.lab.example does not comply with the cluster Default networks, the "
            "following networks are missing on host: 'storage-net',"
        )
        assert status == 1 and f"The host has been set in non_operational status, deployment errors: {missing}" in out
        assert f"Pause execution until {lock} is removed" in out and "Check if the host is up" in out, out
        assert f"{missing} fix accordingly and re-deploy." in out
        assert "Add storage domain" not in out and "engine_api_new" not in lab.refresh()


# --- an original Engine with Keycloak, and a hook for the required network ---------------------------------


def keycloak_site(data, tmp):
    files = engine_files(data)
    files[KEYCLOAK_CONF]["content"] = KEYCLOAK_BUNDLED
    post = files[POST_CONF]
    post["content"] = post["content"].replace("keycloakEnable=bool:False", "keycloakEnable=bool:True")
    deploy = next(h for h in data["hosts"] if h["name"] == "deploy")
    deploy.setdefault("files", []).append(
        {"path": f"{HOOKS}/attach-storage-net.yml", "mode": 0o644, "content": "- name: Attach storage-net\n"}
    )

    def edit(model):
        add_networks(model)
        model["engine"]["admin_user"] = KEYCLOAK_ADMIN  # a Keycloak Engine's API knows only Keycloak's users

    data["ovirt"] = {"engine_model": model_with(tmp, edit)}


@pytest.fixture(scope="module")
def keycloak_lab(tmp_path_factory, client_key):
    with lab_for(tmp_path_factory, client_key, "keycloak", keycloak_site) as lab:
        yield lab


def keycloak_stack(enable, original_user=KEYCLOAK_ADMIN, check=True):
    def change(settings):
        settings["hostedEngine"]["enableKeycloak"] = enable
        settings["engineApi"]["username"] = KEYCLOAK_ADMIN
        settings["originalEngineApi"].update(username=original_user, check=check)

    return change


def test_keycloak_in_the_backup_without_enable_keycloak_fails_the_preview(tmp_path_factory, keycloak_lab, client_key):
    text = " ".join(
        failed_preview(
            make_stack(tmp_path_factory, keycloak_lab, client_key, keycloak_stack(False)), keycloak_lab
        ).split()
    )
    assert (
        "the original Engine uses its bundled Keycloak (KEYCLOAK_BUNDLED=true), which a restore keeps, but "
        "`hostedEngine.enableKeycloak` is false" in text
    ), text
    assert f"set `hostedEngine.enableKeycloak: true` and `engineApi.username: {KEYCLOAK_ADMIN}`" in text
    # the hook on the deployment host makes the required network a warning, not an error
    assert "unless the role's after_add_host hook(s) on deploy (attach-storage-net.yml in " in text
    assert "make them not required" not in text


def test_keycloak_in_the_backup_restored_with_keycloak_passes_and_the_backup_holds_its_database(
    tmp_path_factory, keycloak_lab, client_key
):
    output = passed_preview(make_stack(tmp_path_factory, keycloak_lab, client_key, keycloak_stack(True)), keycloak_lab)
    results = check_results(output)
    assert (results.get("admin_principal"), results.get("required_networks")) == ("passed", "warned"), results
    assert "DWH DB ovirt_engine_history@localhost, Keycloak DB ovirt_engine_keycloak@localhost, Grafana" in output
    assert "admin@ovirt keeps its password" not in output  # the preflight logged in as admin@ovirt@internalsso


def test_keycloak_in_the_backup_unverified_admin_password_is_a_warning(tmp_path_factory, keycloak_lab, client_key):
    output = passed_preview(
        make_stack(tmp_path_factory, keycloak_lab, client_key, keycloak_stack(True, check=False)), keycloak_lab
    )
    assert (
        "the original Engine already uses Keycloak (KEYCLOAK_BUNDLED=true), so admin@ovirt keeps its password "
        f"from the backup, and the deploy logs in as {KEYCLOAK_ADMIN} with `adminPassword`" in " ".join(output.split())
    )
    assert check_results(output).get("admin_principal") == "warned"


def test_the_readme_lists_the_new_checks():
    section = (PROJECT_DIR / "README.md").read_text().split("## Preflight", 1)[1].split("\n## ", 1)[0]
    for name in (
        "required_networks",
        "backup_contents",
        "admin_principal",
        "restored_storage",
        "cluster_fit",
        "fencing",
    ):
        assert f"`{name}`" in section, name


@pytest.mark.parametrize(
    "fixture,expected",
    [
        (
            "default_lab",
            [
                "- Engine database 'engine'",
                "- DWH database 'ovirt_engine_history'",
                "- Grafana database '/var/lib/grafana/grafana.db'",
            ],
        ),
        (
            "keycloak_lab",
            [
                "- Engine database 'engine'",
                "- DWH database 'ovirt_engine_history'",
                "- KEYCLOAK database 'ovirt_engine_keycloak'",
                "- Grafana database '/var/lib/grafana/grafana.db'",
            ],
        ),
    ],
)
def test_the_lab_backup_holds_the_databases_the_setup_files_enable(request, fixture, expected):
    """The witness of backup_contents: engine-backup dumps each database whose service engine-setup enabled and
    whose credentials it wrote (DWH, Keycloak, Cinderlib), and Grafana's SQLite file, printing each as it goes."""
    lab = request.getfixturevalue(fixture)
    engine = lab.ssh("engine")
    try:
        status, out, _ = run(
            engine, "engine-backup --mode=backup --file=/root/contents.backup --log=/root/contents.log"
        )
        members = read_backup(get(engine, "/root/contents.backup"))
    finally:
        engine.close()
    assert (
        status == 0 and [line for line in out.splitlines() if line.startswith("- ") and "database" in line] == expected
    )
    dumps = {
        "Engine": "engine_backup.db",
        "DWH": "dwh_backup.db",
        "KEYCLOAK": "keycloak_backup.db",
        "Grafana": "grafana.db",
    }
    assert sorted(n for n in members if n.startswith("db/")) == sorted(f"db/{dumps[e.split()[1]]}" for e in expected)
