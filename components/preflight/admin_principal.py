"""The admin principal of the new Engine: with Keycloak (4.5.1 and later) every API login goes through Keycloak,
whose only oVirt user is admin@ovirt, so the user the stack logs in as after the deploy must be one of its."""

from __future__ import annotations

KEYCLOAK_ADMIN = "admin@ovirt@internalsso"  # ovirt-engine-keycloak: OVIRT_ADMIN_USER admin@ovirt, profile internalsso
KEYCLOAK_PROFILE = "internalsso"
# Why, from ovirt-engine 4.5.x: OAuthTokenServlet sends a password grant (what ovirtsdk4 logs in with) to
# ExternalOIDCService when ENGINE_SSO_ENABLE_EXTERNAL_SSO is true (12-setup-keycloak.conf with the bundled
# Keycloak), which asks Keycloak's ovirt-internal realm for the name before the last "@"; that realm has admin@ovirt.
WHY = (
    "with Keycloak, ENGINE_SSO_ENABLE_EXTERNAL_SSO sends every API login to Keycloak, whose ovirt-internal realm "
    f"has only admin@ovirt, who logs in as {KEYCLOAK_ADMIN}"
)


def check(site, hosts, facts, findings, password, api):
    """The restore with Keycloak (4.5.1+): the role logs in as admin@ovirt@internalsso when the new Engine's
    setup says `OVESETUP_CONFIG/keycloakEnable` True, else admin@internal; `engineApi.username`, which the stack
    uses after the deploy, must be a user that new Engine accepts."""
    migration = site.migration
    enable = bool(migration.hosted_engine["enableKeycloak"])
    user = migration.engine_api["username"]
    in_keycloak = user.rpartition("@")[2] == KEYCLOAK_PROFILE
    original = facts.get("original_keycloak")  # backup_contents: KEYCLOAK_BUNDLED=true on the original Engine
    if enable and not in_keycloak:
        findings.errors.append(
            f"`hostedEngine.enableKeycloak` is true, so the new Engine will use Keycloak and the deploy itself logs in "
            f"as {KEYCLOAK_ADMIN}; but `engineApi.username` is {user}, which that Engine will refuse after the "
            f"deploy ({WHY}), though {user} stays in the restored database: set `engineApi.username: {KEYCLOAK_ADMIN}` "
            f"(its password is `adminPassword`"
            + (", which must be admin@ovirt's in the backup)" if original else ", which the deploy gives it)")
            + ", or `hostedEngine.enableKeycloak: false`"
        )
    elif enable and original and not (facts.get("api") and api.get("username") == KEYCLOAK_ADMIN):
        findings.warnings.append(
            f"the original Engine already uses Keycloak (KEYCLOAK_BUNDLED=true), so admin@ovirt keeps its password "
            f"from the backup, and the deploy logs in as {KEYCLOAK_ADMIN} with `adminPassword`: they must be the "
            f"same (set `originalEngineApi.username: {KEYCLOAK_ADMIN}` to have the preflight try it)"
        )
    elif not enable and original:
        findings.errors.append(
            f"the original Engine uses its bundled Keycloak (KEYCLOAK_BUNDLED=true), which a restore keeps, but "
            f"`hostedEngine.enableKeycloak` is false, so the deploy would log in as admin@internal, which that Engine "
            f"refuses ({WHY}); Keycloak cannot be turned off again (ovirt-engine-keycloak's keycloak_usage.md: no "
            f"fallback to AAA): set `hostedEngine.enableKeycloak: true` and `engineApi.username: {KEYCLOAK_ADMIN}`"
        )
    elif not enable and in_keycloak and original is not None:
        findings.errors.append(
            f"`engineApi.username` is {user}, but neither the original Engine nor `hostedEngine.enableKeycloak` (false) "
            f"gives the new Engine Keycloak, so its profile {KEYCLOAK_PROFILE} will not exist: set "
            f"`engineApi.username: admin@internal`, or `hostedEngine.enableKeycloak: true`"
        )
