"""Preflight: every prerequisite of the procedure checked against the real site at `pulumi preview`.

Design. The checks run in the dynamic-provider process, as the `read` of a `Preflight` resource
(read on every preview and up, never created or deleted), so the resources that follow reuse its
SSH connections: one connection per host per run. The SSH key and admin password reach it as
secret inputs. `run()` returns the SSH key *gated* by the findings: every resource that touches a
host takes that key as an input, so when a check fails the program raises a `PreflightError` (a
`pulumi.RunError` listing every problem) before any of them is registered, and preview fails with
no host resource planned. Checks in each resource's own `check()` were rejected: the resources
would be planned (and some created) beside a failing one, and the cross-host checks (DNS seen
from the deployment host, the original Engine's API) belong to no one resource.

Nothing on the site changes: facts come from read-only commands over the same SSH connections the
resources use (`providers.ssh.connect`) and from GETs on the original Engine's API
(`providers.engine_api.connect`). All problems are gathered before anything is reported, so a site
that breaks three things shows all three in one preview; errors name the stack setting and the fix,
warnings (what the procedure only recommends) are `pulumi.log.warn`. The original Engine's API only
answers while its `ovirt-engine` runs: once the backup has stopped it (a re-run of `up`), the API
checks are skipped with a note.

Upstream: ovirt-hosted-engine-setup's validations and the oVirt ansible `hosted_engine_setup`
role (FQDN forward/reverse resolution and "FQDN must not resolve to a host address", memory and
vCPU limits, virtualization flags, bridge interface and default gateway, static IP in the host's
subnet, storage domain free space against the disk size).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
from pulumi.dynamic import ReadResult, Resource, ResourceProvider

from components.site_config import PROJECT_DIR, SiteConfig
from providers import engine_api
from providers import ssh

HE_STORAGE_MIN_GIB = 74
ENGINE_MIN_MEMORY_MB = 4096
GIB = 1 << 30


class PreflightError(pulumi.RunError):
    """The site does not meet the procedure's prerequisites; the message lists every problem."""

    def __init__(self, errors: list[str]):
        super().__init__(f"preflight found {len(errors)} problem(s) on the site; nothing was changed:\n"
                         + "\n".join(f"  - {e}" for e in errors))


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def original_engine_api(site: SiteConfig, config: pulumi.Config | None = None) -> dict:
    """`originalEngineApi: {url, caFile, username}`; by default the Engine FQDN's API with `engineApi`'s CA."""
    config = config or pulumi.Config()
    given = config.get_object("originalEngineApi") or {}
    migration = site.migration
    api = {"url": given.get("url") or f"https://{migration.hosted_engine.get('fqdn')}/ovirt-engine/api",
           "username": given.get("username") or "admin@internal", "configured": bool(given.get("url"))}
    ca_file = given.get("caFile")
    if ca_file:
        path = PROJECT_DIR / Path(str(ca_file)).expanduser()
        api["caPem"] = path.read_text() if path.is_file() else None
        api["caFile"] = ca_file
    else:
        api["caPem"] = migration.engine_api.get("caPem")
    return api


class PreflightProvider(ResourceProvider):
    """Reads the site's prerequisites in the provider process, so the resources that follow reuse the
    same SSH connections (one per host per run)."""

    def __init__(self, site: SiteConfig, api: dict):
        self.site, self.api = site, api

    def read(self, id_, props):
        if "privateKey" not in props:  # `pulumi refresh` hands back the last findings, not the inputs
            return ReadResult(id_, props)
        findings = collect(self.site, props["privateKey"], props.get("adminPassword"), self.api)
        return ReadResult(id_, {"errors": findings.errors, "warnings": findings.warnings, "notes": findings.notes})


class SitePreflight(Resource, module="ovirt", name="Preflight"):
    """The preflight's findings, read again on every preview and up (never created or deleted)."""

    errors: pulumi.Output[list]
    warnings: pulumi.Output[list]
    notes: pulumi.Output[list]

    def __init__(self, site: SiteConfig, api: dict, private_key, admin_password):
        props = {"privateKey": private_key, "adminPassword": admin_password, "errors": None, "warnings": None, "notes": None}
        opts = pulumi.ResourceOptions(id="site", additional_secret_outputs=["privateKey", "adminPassword"])
        super().__init__(PreflightProvider(site, api), "preflight", props, opts)


def run(site: SiteConfig, private_key: pulumi.Input[str], admin_password: pulumi.Input[str] | None,
        config: pulumi.Config | None = None) -> tuple[pulumi.Output[str], pulumi.Output[list]]:
    """The SSH key, released only once every check has passed (see the module docstring), and the
    findings for the migration report: [{check, host, severity, message}], none of them secret."""
    if site.migration is None:
        return pulumi.Output.from_input(private_key), pulumi.Output.from_input([])
    preflight = SitePreflight(site, original_engine_api(site, config), private_key, admin_password)

    def checked(values):
        key, errors, warnings, notes = values
        for note in notes:
            pulumi.log.info(f"preflight: {note}")
        for warning in warnings:
            pulumi.log.warn(f"preflight: {warning}")
        if errors:
            raise PreflightError(errors)
        results = [{"check": "preflight", "host": "", "severity": severity, "message": message}
                   for severity, messages in (("warning", warnings), ("note", notes))
                   for message in messages]
        return key, results

    outcome = pulumi.Output.all(private_key, preflight.errors, preflight.warnings, preflight.notes).apply(checked)
    return outcome.apply(lambda o: o[0]), pulumi.Output.unsecret(outcome.apply(lambda o: o[1]))


class _Site:
    """Lazy, cached read-only access to the hosts, so each fact is read once."""

    def __init__(self, site: SiteConfig, key: str, findings: Findings):
        self.site, self.key, self.findings = site, key, findings
        self.connections: dict[str, ssh.Connection | None] = {}

    def conn(self, name: str) -> ssh.Connection | None:
        if name not in self.connections:
            try:
                self.connections[name] = ssh.connect(ssh.Host.from_props(self.site.connection(name)), self.key)
            except Exception as err:  # unreachable host, refused key: reported once, its checks skipped
                self.findings.errors.append(
                    f"cannot reach `hosts.{name}` ({self.site.hosts[name].address}:{self.site.hosts[name].port}) "
                    f"over SSH: {err}; fix `hosts.{name}` or the host, since its prerequisites cannot be checked")
                self.connections[name] = None
        return self.connections[name]

    def run(self, name: str, *argv: str) -> ssh.Result | None:
        connection = self.conn(name)
        return connection.run(*argv, check=False) if connection else None


def collect(site: SiteConfig, key: str, password: str | None, api: dict) -> Findings:
    findings = Findings()
    hosts = _Site(site, key, findings)
    facts: dict = {}
    for check in (_names_and_dns, _memory_and_cpus, _engine_version, _storage, _vm_network_address,
                  _deployment_host, _original_engine_api, _block_storage, _gluster, _nodes):
        try:
            check(site, hosts, facts, findings, password, api)
        except Exception as err:  # a check that cannot run is a problem, never a silent pass
            findings.errors.append(f"preflight check {check.__name__.strip('_')} could not run: {err}")
    return findings


def _out(result: ssh.Result | None) -> str | None:
    return result.stdout if result is not None and result.exit_status == 0 else None


def _resolve(hosts: _Site, deploy: str, name: str, setting: str, findings: Findings) -> str | None:
    """Forward and reverse records of NAME as the deployment host resolves them; returns the address."""
    forward = _out(hosts.run(deploy, "getent", "hosts", name))
    if not forward or not forward.split():
        findings.errors.append(f"{name} ({setting}) has no forward DNS record: `getent hosts {name}` on the "
                               f"deployment host finds nothing; add an A record for it")
        return None
    address = forward.split()[0]
    reverse = _out(hosts.run(deploy, "getent", "hosts", address))
    if not reverse or len(reverse.split()) < 2:
        findings.errors.append(f"{address}, the address of {name} ({setting}), has no reverse DNS record: "
                               f"`getent hosts {address}` finds nothing; add a PTR record naming {name}")
    elif reverse.split()[1].lower() != name.lower():
        findings.errors.append(f"the reverse DNS record of {address} names {reverse.split()[1]}, not {name} "
                               f"({setting}): make forward and reverse records agree")
    return address


def _names_and_dns(site, hosts, facts, findings, password, api):
    migration = site.migration
    fqdn = migration.hosted_engine["fqdn"]
    original = _out(hosts.run(migration.original_engine, "hostname", "-f"))
    if original is not None:
        original = original.strip()
        facts["original_fqdn"] = original
        if original.lower() != fqdn.lower():
            findings.errors.append(f"`hostedEngine.fqdn` is {fqdn}, but the original Engine "
                                   f"(`roles.originalEngine` = {migration.original_engine}) is {original}: the new "
                                   f"Engine must have the original's FQDN; set `hostedEngine.fqdn` to {original}")
    deploy = migration.deployment_host
    deploy_fqdn = _out(hosts.run(deploy, "hostname", "-f"))
    if deploy_fqdn is None:
        return
    deploy_fqdn = facts["deploy_fqdn"] = deploy_fqdn.strip()
    engine_address = _resolve(hosts, deploy, fqdn, "`hostedEngine.fqdn`", findings)
    facts["deploy_address"] = _resolve(hosts, deploy, deploy_fqdn, f"the deployment host `roles.deploymentHost` = {deploy}", findings)
    own = {i.ip for i in _addresses(hosts, deploy, facts)} | {facts["deploy_address"]}
    if engine_address and engine_address in {str(a) for a in own if a}:
        findings.errors.append(f"`hostedEngine.fqdn` {fqdn} resolves to {engine_address}, an address of the deployment "
                               f"host {deploy_fqdn}: the Engine VM needs an address of its own; fix the DNS record")


def _addresses(hosts: _Site, deploy: str, facts: dict) -> list:
    """The deployment host's IPv4 interfaces (not loopback), from `ip -o -4 addr show`."""
    if "deploy_interfaces" not in facts:
        text = _out(hosts.run(deploy, "ip", "-o", "-4", "addr", "show")) or ""
        found = re.findall(r"^\d+:\s+(\S+)\s+inet\s+(\S+)", text, re.M)
        facts["deploy_interfaces"] = [ipaddress.ip_interface(cidr) for name, cidr in found if name != "lo"]
    return facts["deploy_interfaces"]


def _memory_and_cpus(site, hosts, facts, findings, password, api):
    migration = site.migration
    vm = migration.hosted_engine["vm"]
    meminfo = _out(hosts.run(migration.original_engine, "cat", "/proc/meminfo"))
    match = re.search(r"^MemTotal:\s+(\d+)\s+kB", meminfo or "", re.M)
    if match:
        original_mb = int(match.group(1)) // 1024
        wanted = max(original_mb, ENGINE_MIN_MEMORY_MB)
        if vm["memoryMB"] < wanted:
            findings.errors.append(f"`hostedEngine.vm.memoryMB` is {vm['memoryMB']}, less than the original Engine "
                                   f"machine's {original_mb} MiB: the Engine VM must have as much RAM as the machine "
                                   f"it replaces (procedure 6.12); set `hostedEngine.vm.memoryMB` to at least {wanted}")
    elif meminfo is not None or hosts.conn(migration.original_engine):
        findings.errors.append(f"the original Engine's memory could not be read (`cat /proc/meminfo` on "
                               f"`roles.originalEngine` = {migration.original_engine})")
    cpus = _out(hosts.run(migration.deployment_host, "nproc"))
    if cpus and cpus.strip().isdigit() and vm["vcpus"] > int(cpus):
        findings.errors.append(f"`hostedEngine.vm.vcpus` is {vm['vcpus']}, more than the deployment host's "
                               f"{int(cpus)} CPUs: set `hostedEngine.vm.vcpus` to at most {int(cpus)}")


def _major_minor(text: str | None, package: str) -> str | None:
    match = re.search(rf"^{re.escape(package)}-(\d+)\.(\d+)", text or "", re.M)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _engine_version(site, hosts, facts, findings, password, api):
    migration = site.migration
    engine = migration.original_engine
    check = hosts.run(engine, "engine-upgrade-check")
    if check is not None:
        if check.exit_status == 0:
            message = (f"the original Engine ({engine}) has updates pending (`engine-upgrade-check`): the procedure "
                       f"(4) updates it to the latest minor version before the backup")
            if migration.backup.allow_engine_update:
                findings.warnings.append(message + "; `backup.allowEngineUpdate` is true, so `up` will run "
                                                   "engine-setup first")
            else:
                findings.errors.append(message + "; update it yourself, or set `backup.allowEngineUpdate: true` "
                                                 "to let `up` do it")
        elif check.exit_status != 1:
            findings.errors.append(f"`engine-upgrade-check` on the original Engine ({engine}) failed with status "
                                   f"{check.exit_status}: {(check.stderr or check.stdout).strip()[-300:]}; fix the "
                                   f"Engine's repositories so it can tell whether it is on the latest minor version")
    original = _major_minor(_out(hosts.run(engine, "rpm", "-q", "ovirt-engine")), "ovirt-engine")
    facts["original_version"] = original
    appliance_rpm = hosts.run(migration.deployment_host, "rpm", "-q", "ovirt-engine-appliance")
    appliance = _major_minor(_out(appliance_rpm), "ovirt-engine-appliance")
    if appliance_rpm is not None and appliance is None:
        findings.warnings.append(f"the Engine Appliance is not installed on the deployment host "
                                 f"({migration.deployment_host}), so the new Engine's version cannot be compared with "
                                 f"the original's ({original or 'unknown'}): install the ovirt-engine-appliance of that version")
    elif original and appliance and original != appliance:
        findings.errors.append(f"the new Engine would run {appliance} (ovirt-engine-appliance on the deployment host "
                               f"{migration.deployment_host}) but the original Engine runs {original}: the backup can "
                               f"only be restored by the same X.Y; install the ovirt-engine-appliance for {original}")


def _storage_host(site: SiteConfig, hosts: _Site, server: str) -> str | None:
    for name, host in site.hosts.items():
        if server in (name, host.address, host.engine_name):
            return name
    exporters = [e.host for e in site.storage_exports]
    for name in dict.fromkeys(exporters + [n for n in site.hosts if n not in exporters]):
        if name in (site.migration.original_engine, site.migration.deployment_host, site.migration.backup_server):
            continue
        found = _out(hosts.run(name, "hostname", "-f"))
        if found and found.strip().lower() == server.lower():
            return name
    return None


def _storage(site, hosts, facts, findings, password, api):
    migration = site.migration
    storage = migration.hosted_engine["storage"]
    if storage["type"] not in ("nfs", "glusterfs"):
        return
    server, _, path = storage["connection"].partition(":")
    path = posixpath.normpath(path) if path else path
    if not path.startswith("/"):
        findings.errors.append(f"`hostedEngine.storage.connection` is {storage['connection']!r}: give it as SERVER:/PATH")
        return
    name = _storage_host(site, hosts, server)
    prepared = name is not None and any(e.host == name and posixpath.normpath(e.path) == path for e in site.storage_exports)
    if storage["type"] == "nfs" and not prepared:
        listing = hosts.run(migration.deployment_host, "showmount", "-e", server)
        exported = listing is not None and listing.exit_status == 0 and path in {
            line.split()[0] for line in listing.stdout.splitlines()[1:] if line.split()}
        if listing is not None and not exported:
            detail = (listing.stderr or listing.stdout).strip() if listing.exit_status else f"{path} is not in its export list"
            findings.errors.append(f"the deployment host cannot see the NFS export {server}:{path} "
                                   f"(`hostedEngine.storage.connection`; `showmount -e {server}`: {detail}): export "
                                   f"it, or add it to `storageExports` so `up` exports it first")
    if name is None:
        findings.warnings.append(f"the storage server {server} of `hostedEngine.storage.connection` is not one of "
                                 f"`hosts`, so its ownership, mode and free space cannot be checked: add it to `hosts`")
        return
    if storage["type"] == "nfs" and not prepared:
        owner = _out(hosts.run(name, "stat", "-c", "%u:%g %a", path))
        if owner is not None and owner.strip() != "36:36 755":
            findings.errors.append(f"{server}:{path} (`hostedEngine.storage.connection`) is {owner.strip()}, not "
                                   f"owned by vdsm:kvm (36:36) with mode 0755 (procedure 3.1): `chown 36:36` and "
                                   f"`chmod 0755` it, or add it to `storageExports` so `up` does")
    avail_path = path
    avail = hosts.run(name, "df", "-B1", "--output=avail", avail_path)
    while avail is not None and avail.exit_status != 0 and avail_path != "/":
        avail_path = posixpath.dirname(avail_path)  # not created yet: the file system that will hold it
        avail = hosts.run(name, "df", "-B1", "--output=avail", avail_path)
    numbers = re.findall(r"^\s*(\d+)\s*$", _out(avail) or "", re.M)
    if numbers:
        free = int(numbers[-1])
        if free < HE_STORAGE_MIN_GIB * GIB:
            findings.errors.append(f"{server}:{path} (`hostedEngine.storage.connection`) has {free / GIB:.1f} GiB "
                                   f"available; the hosted-engine storage domain needs at least {HE_STORAGE_MIN_GIB} GiB "
                                   f"(procedure 3): give it more space or choose another export")
        if storage["diskSizeGB"] * GIB > free:
            findings.errors.append(f"`hostedEngine.storage.diskSizeGB` is {storage['diskSizeGB']} but {server}:{path} "
                                   f"has only {free / GIB:.1f} GiB available: lower it or free space")


def _vm_network_address(site, hosts, facts, findings, password, api):
    migration = site.migration
    vm = migration.hosted_engine["vm"]
    static = vm.get("staticCIDR")
    if static:
        try:
            wanted = ipaddress.ip_interface(static)
        except ValueError:
            findings.errors.append(f"`hostedEngine.vm.staticCIDR` is {static!r}: give an address with its prefix, "
                                   f"e.g. 192.0.2.60/24")
            return
        interfaces = _addresses(hosts, migration.deployment_host, facts)
        if interfaces and not any(wanted.ip in i.network for i in interfaces):
            subnets = ", ".join(str(i.network) for i in interfaces)
            findings.errors.append(f"`hostedEngine.vm.staticCIDR` {static} is not in the deployment host's subnet "
                                   f"({subnets}, from `ip -o -4 addr show`): the Engine VM's static address must be "
                                   f"in the same subnet as the host (procedure 6.14)")
    else:
        mac = vm.get("macAddress")
        findings.warnings.append(
            f"the Engine VM takes its address by DHCP: make sure the DHCP server has a reservation for MAC {mac} "
            f"(`hostedEngine.vm.macAddress`) giving {migration.hosted_engine['fqdn']}'s address (procedure 6.13)"
            if mac else "the Engine VM takes its address by DHCP with a random MAC, for which no reservation can "
                        "exist: set `hostedEngine.vm.macAddress` and reserve it, or set `hostedEngine.vm.staticCIDR`")


def _deployment_host(site, hosts, facts, findings, password, api):
    migration = site.migration
    deploy = migration.deployment_host
    he = migration.hosted_engine
    cpuinfo = _out(hosts.run(deploy, "cat", "/proc/cpuinfo"))
    if cpuinfo is not None and not re.search(r"^flags\s*:.*\b(vmx|svm)\b", cpuinfo, re.M):
        findings.errors.append(f"the deployment host ({deploy}) has no vmx/svm CPU flag: enable virtualization in "
                               f"its BIOS settings (procedure 2.2), or choose another `roles.deploymentHost`")
    watchdog = hosts.run(deploy, "systemctl", "is-active", "watchdog")
    if watchdog is not None and watchdog.exit_status == 0:
        findings.errors.append(f"the deployment host ({deploy}) runs a third-party watchdog (watchdog.service), which "
                               f"interferes with VDSM's (procedure 2.2): remove it (`dnf remove watchdog`)")
    route = _out(hosts.run(deploy, "ip", "route", "show", "default"))
    if route is not None:
        via = re.search(r"^default via (\S+)", route, re.M)
        if not via:
            findings.errors.append(f"the deployment host ({deploy}) has no default gateway (`ip route show default`): "
                                   f"configure one; `hostedEngine.gateway` must be it")
        elif via.group(1) != he["gateway"]:
            findings.warnings.append(f"`hostedEngine.gateway` is {he['gateway']} but the deployment host's default "
                                     f"gateway is {via.group(1)}")
    links = _out(hosts.run(deploy, "ip", "-o", "link", "show"))
    if links is not None:
        names = set(re.findall(r"^\d+:\s+([^:@\s]+)", links, re.M))
        if he["bridgeInterface"] not in names:
            findings.errors.append(f"`hostedEngine.bridgeInterface` is {he['bridgeInterface']}, which the deployment host "
                                   f"({deploy}) does not have (`ip -o link show`: {', '.join(sorted(names - {'lo'}))}): "
                                   f"name the NIC for the management bridge")


def _original_engine_api(site, hosts, facts, findings, password, api):
    import ovirtsdk4  # only the API checks need it

    migration = site.migration
    he = migration.hosted_engine
    if api.get("caFile") and api.get("caPem") is None:
        findings.errors.append(f"`originalEngineApi.caFile` is {api['caFile']!r}, which does not exist: give the "
                               f"original Engine's CA (/etc/pki/ovirt-engine/ca.pem)")
        return
    running = hosts.run(migration.original_engine, "systemctl", "is-active", "ovirt-engine")
    if running is None:
        return
    if running.exit_status != 0:
        findings.notes.append("the original Engine's ovirt-engine is stopped (the backup has been taken), so its "
                              "API cannot answer: the management network, data centre, cluster, host and storage "
                              "domain checks are skipped")
        return
    if not password or not api.get("caPem"):
        return
    try:
        connection = engine_api.connect(engine_api.Engine(api["url"], api["username"], api["caPem"]), password, timeout=15)
        system = connection.system_service()
        networks = system.networks_service().list()
        datacenters = system.data_centers_service().list()
        clusters = system.clusters_service().list()
        api_hosts = system.hosts_service().list()
        domains = system.storage_domains_service().list()
        facts["api_domains"] = domains  # _block_storage: the targets and LUNs other domains use
    except ovirtsdk4.Error as err:
        message = (f"the original Engine's API at {api['url']} did not answer ({err})")
        if api["configured"]:
            findings.errors.append(message + ": fix `originalEngineApi.url`/`.caFile` or `adminPassword`")
        else:
            findings.warnings.append(message + ": set `originalEngineApi.url` and `.caFile` so the management "
                                               "network, data centre, cluster and storage domains are checked")
        return
    dc_names = {dc.id: dc.name for dc in datacenters}
    dc_name = he.get("dataCenterName", "Default")
    cluster_name = he["clusterName"]
    if dc_name not in dc_names.values():
        findings.errors.append(f"`hostedEngine.dataCenterName` is {dc_name}, which the original Engine does not have "
                               f"(it has {', '.join(sorted(dc_names.values()))}): name its data centre")
    cluster = next((c for c in clusters if c.name == cluster_name), None)
    if cluster is None:
        findings.errors.append(f"`hostedEngine.clusterName` is {cluster_name}, which the original Engine does not have "
                               f"(it has {', '.join(sorted(c.name for c in clusters))}): name one of its clusters")
    elif cluster.data_center is not None and dc_names.get(cluster.data_center.id, dc_name) != dc_name:
        findings.errors.append(f"cluster {cluster_name} (`hostedEngine.clusterName`) is in data centre "
                               f"{dc_names.get(cluster.data_center.id)}, not {dc_name} (`hostedEngine.dataCenterName`)")
    dc_id = next((i for i, n in dc_names.items() if n == dc_name), None)
    mgmt = he.get("managementNetwork", "ovirtmgmt")
    network = next((n for n in networks if n.name == mgmt and (n.data_center is None or n.data_center.id == dc_id)), None)
    if network is None:
        findings.errors.append(f"the management network {mgmt} (`hostedEngine.managementNetwork`) does not exist in data "
                               f"centre {dc_name} of the original Engine: name it")
    elif "vm" not in {u.value for u in (network.usages or [])}:
        findings.errors.append(f"the management network {mgmt} is not a VM network in the original Engine: make it one "
                               f"(Network > Edit > VM network) so it can carry the Engine VM (prerequisites)")
    deploy_names = {facts.get("deploy_fqdn"), facts.get("deploy_address"), migration.deployment_host} - {None}
    known = [h.name for h in api_hosts if {h.name, h.address} & deploy_names]
    if known:
        findings.warnings.append(f"the deployment host is {known[0]} in the backed-up environment: it will be removed "
                                 f"from the restored database (procedure 1); a fresh host is recommended")
    data = [d for d in domains if d.type is not None and d.type.value == "data" and d.name != "hosted_storage"
            and (d.data_centers is None or any(dc.id == dc_id for dc in d.data_centers))]
    if not data:
        findings.warnings.append(f"data centre {dc_name} has no data storage domain besides the hosted-engine one: add "
                                 f"another, or a corrupted domain means redeploying (procedure 3)")


LIO_SAVECONFIG = "/etc/target/saveconfig.json"


def _block_storage(site, hosts, facts, findings, password, api):
    """Procedure 3, 3.2, 3.3, 6 and 6.18 for iSCSI and FC: one LUN, a dedicated iSCSI target, 512-byte
    logical blocks, an empty FC LUN, and (warning) the deployment host's IQN in the target's ACL."""
    storage = site.migration.hosted_engine["storage"]
    kind = storage["type"]
    if kind not in ("iscsi", "fc"):
        return
    deploy = site.migration.deployment_host
    lun = str(storage["lun"]).strip()
    if re.search(r"[\s,;]", lun):
        findings.errors.append(f"`hostedEngine.storage.lun` is {lun!r}: a single target LUN is the only supported "
                               f"setup for the self-hosted engine (procedure 3); give the WWID of one LUN")
        return
    device = f"/dev/mapper/{lun}"
    if kind == "iscsi":
        _iscsi_target(site, hosts, facts, findings, storage, lun)
    size = hosts.run(deploy, "blockdev", "--getss", device)
    if size is not None and size.exit_status != 0:
        detail = (size.stderr or size.stdout).strip()
        if kind == "fc":
            findings.errors.append(f"the deployment host ({deploy}) does not see the FC LUN {lun} "
                                   f"(`hostedEngine.storage.lun`; `blockdev --getss {device}`: {detail}): check the "
                                   f"HBAs, zoning and LUN masking (procedure 6.18), or name a LUN it sees")
        else:
            findings.warnings.append(f"the deployment host ({deploy}) does not see the iSCSI LUN {lun} yet "
                                     f"(`blockdev --getss {device}`: {detail}), so its block size cannot be checked "
                                     f"before the deploy logs in: make sure it has 512-byte logical blocks")
        return
    if size is not None and size.stdout.strip() != "512":
        findings.errors.append(f"LUN {lun} (`hostedEngine.storage.lun`) has {size.stdout.strip()}-byte logical blocks "
                               f"(`blockdev --getss {device}` on {deploy}): oVirt does not support 4K block storage "
                               f"(procedure 3.2, 3.3); configure the LUN in legacy 512-byte mode on the storage array, "
                               f"or name a 512-byte LUN")
    if kind == "fc":
        probe = hosts.run(deploy, "blkid", "-p", device)
        if probe is not None and probe.exit_status == 0:
            found = re.search(r'\bTYPE="([^"]+)"', probe.stdout)
            findings.errors.append(f"FC LUN {lun} (`hostedEngine.storage.lun`) holds existing data "
                                   f"(`blkid -p {device}`: {found.group(1) if found else probe.stdout.strip()}): the LUN "
                                   f"must not contain any data (procedure 6.18); name an empty LUN, or wipe this one "
                                   f"(`wipefs -a {device}`) once its data is known to be unneeded (\"Reusing LUNs\")")
        elif probe is not None and probe.exit_status != 2:
            findings.errors.append(f"`blkid -p {device}` on {deploy} failed with status {probe.exit_status}: "
                                   f"{(probe.stderr or probe.stdout).strip()[-200:]}; it must show the LUN is empty")


def _iscsi_target(site, hosts, facts, findings, storage, lun):
    import json
    deploy = site.migration.deployment_host
    portal, target = storage["portal"], storage["target"]
    port = int(storage.get("port", 3260))
    found = hosts.run(deploy, "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", f"{portal}:{port}",
                      "-o", "nonpersistent")
    if found is not None:
        offered = [line.split()[1] for line in found.stdout.splitlines() if len(line.split()) == 2]
        if found.exit_status != 0:
            detail = ((found.stderr or found.stdout).strip().splitlines() or [""])[-1]
            findings.errors.append(f"the deployment host ({deploy}) cannot discover iSCSI targets at {portal}:{port} "
                                   f"(`hostedEngine.storage.portal`/`.port`; `iscsiadm -m discovery` exit "
                                   f"{found.exit_status}: {detail}): fix the portal address or port, or the network")
        elif target not in offered:
            findings.errors.append(f"`hostedEngine.storage.target` is {target}, which the portal {portal}:{port} does not "
                                   f"offer (it offers {', '.join(offered) or 'nothing'}): name the dedicated target")
    for domain in facts.get("api_domains") or []:
        units = (domain.storage.logical_units or []) if domain.storage is not None else []
        if any(u.target == target for u in units):
            findings.errors.append(f"iSCSI target {target} (`hostedEngine.storage.target`) is already used by storage "
                                   f"domain {domain.name} of the original Engine: the self-hosted engine storage domain "
                                   f"needs a dedicated iSCSI target (procedure 3); create a new target for it and set "
                                   f"`hostedEngine.storage.target`")
        elif any(u.id == lun for u in units):
            findings.errors.append(f"LUN {lun} (`hostedEngine.storage.lun`) already belongs to storage domain "
                                   f"{domain.name} of the original Engine: name an unused LUN")
    # Procedure 6: a target that filters by initiator ACL refuses a host not in it (STORAGE_DOMAIN_UNREACHABLE).
    server = _storage_host(site, hosts, portal)
    config = _out(hosts.run(server, "cat", LIO_SAVECONFIG)) if server else None
    if not config:
        return
    tpgs = next((t.get("tpgs", []) for t in json.loads(config).get("targets", []) if t.get("wwn") == target), [])
    acls = [a.get("node_wwn") for tpg in tpgs if not tpg.get("attributes", {}).get("generate_node_acls")
            for a in tpg.get("node_acls", [])]
    if not tpgs or all(tpg.get("attributes", {}).get("generate_node_acls") for tpg in tpgs):
        return
    text = _out(hosts.run(deploy, "cat", "/etc/iscsi/initiatorname.iscsi")) or ""
    match = re.search(r"^InitiatorName=(\S+)", text, re.M)
    iqn = match.group(1) if match else None
    if iqn not in acls:
        findings.warnings.append(f"iSCSI target {target} (`hostedEngine.storage.target`) filters connections by "
                                 f"initiator ACL and the deployment host's IQN {iqn or '(none in /etc/iscsi/initiatorname.iscsi)'} "
                                 f"is not in it: the deploy would fail with STORAGE_DOMAIN_UNREACHABLE (procedure 6); add "
                                 f"the IQN to the target's ACL, or set the host's IQN in /etc/iscsi/initiatorname.iscsi "
                                 f"to one the ACL maps")


GLUSTER_OPTIONS = (  # procedure 6.18; `group virt` is checked through one option it sets, features.shard
    ("features.shard", "on", "group virt"),
    ("performance.strict-o-direct", "on", None), ("network.remote-dio", "off", None),
    ("storage.owner-uid", "36", None), ("storage.owner-gid", "36", None), ("network.ping-timeout", "30", None),
)
_GLUSTER_BOOL = {"on": "on", "enable": "on", "true": "on", "yes": "on", "1": "on",
                 "off": "off", "disable": "off", "false": "off", "no": "off", "0": "off"}


def _gluster(site, hosts, facts, findings, password, api):
    """Procedure 6.18 for Gluster: replica 1 or 3 only, and the volume options it lists."""
    storage = site.migration.hosted_engine["storage"]
    if storage["type"] != "glusterfs":
        return
    server, _, path = storage["connection"].partition(":")
    volume = path.strip("/")
    name = _storage_host(site, hosts, server) if volume else None
    if name is None:
        return  # _storage reports a bad connection or a server outside `hosts`
    info = hosts.run(name, "gluster", "volume", "info", volume)
    if info is None:
        return
    if info.exit_status != 0:
        findings.errors.append(f"`gluster volume info {volume}` on {server} (`hostedEngine.storage.connection`) failed: "
                               f"{(info.stderr or info.stdout).strip()[-200:]}; create the volume, or name an existing one")
        return
    text = info.stdout
    bricks = re.search(r"^Number of Bricks:\s*(.+)$", text, re.M)
    layout = bricks.group(1).strip() if bricks else ""
    replica_match = re.match(r"\d+\s*x\s*(?:\((\d+)\s*\+\s*(\d+)\)|(\d+))\s*=", layout)
    if replica_match:
        replica = (int(replica_match.group(1)) + int(replica_match.group(2)) if replica_match.group(1)
                   else int(replica_match.group(3)))
    else:
        replica = 1 if re.match(r"^\d+$", layout) else None
    if replica not in (1, 3):
        findings.errors.append(f"gluster volume {volume} (`hostedEngine.storage.connection`) is replica "
                               f"{replica if replica is not None else layout!r} (`Number of Bricks: {layout}`): only "
                               f"replica 1 and replica 3 Gluster storage are supported (procedure 6.18); use a replica 3 "
                               f"(or replica 1) volume")
    options = dict(re.findall(r"^([a-z][\w.-]*):\s*(\S.*?)\s*$", text.split("Options Reconfigured:", 1)[1], re.M)
                   ) if "Options Reconfigured:" in text else {}
    for key, wanted, group in GLUSTER_OPTIONS:
        value = options.get(key)
        if _GLUSTER_BOOL.get(str(value).lower(), value) == wanted:
            continue
        now = f"it is {value}" if value is not None else "it is not set"
        fix = f"gluster volume set {volume} {group or key + ' ' + wanted}"
        what = f"the `{group}` option group ({key} {wanted})" if group else f"{key} {wanted}"
        findings.errors.append(f"gluster volume {volume} (`hostedEngine.storage.connection`) lacks {what}, {now}: "
                               f"run `{fix}` (procedure 6.18)")


def _nodes(site, hosts, facts, findings, password, api):
    nodes = site.migration.nodes
    if len(nodes) + 1 < 2:
        findings.warnings.append(f"only the deployment host will be a hosted-engine node (`hostedEngineNodes` is "
                                 f"{nodes or 'empty'}): the Engine VM is not highly available with fewer than two; "
                                 f"add a host to `hostedEngineNodes`")
