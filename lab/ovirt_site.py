"""The lab's oVirt side: the Engine APIs that `lab serve` runs next to the SSH hosts.

* The original Engine's API (STATE/engine-api/) answers while the
  `ovirt-engine` service on the site's `original-engine` host is active
  (otherwise the Apache 503 page, as httpd answers in front of a stopped
  engine).
* The new self-hosted Engine's API (STATE/engine-api-new/) exists once
  `hosted-engine --deploy` has succeeded on the deployment host; it is
  restarted with the lab when its state exists.

Site file settings (all optional), top-level key `ovirt`:

    ovirt:
      engine_api_port: 8443          # fixed port of the original API (random with --random-ports)
      engine_api_new_port: 8444      # fixed port of the new API
                                     # (ports given here stay fixed even with --random-ports)
      engine_model: null             # model YAML for the original API (default: engine_api/default_model.yaml)
      engine_delays: {}              # EngineApi delays
      update_pending: {setup: true, engine: true, os: true}  # for the original-engine host;
                                     # a host's own `update_pending` key overrides it
      os_version: centos8            # engine-backup's os_version file
      appliance_engine_version: 4.5.6  # Engine inside an appliance whose host ships no manifest of it (the
                                     # deploy's restore and the new Engine); a host's appliance manifest
                                     # (see "The appliance" below) says it otherwise, and must agree
      deploy_seconds: 2              # how long hosted-engine --deploy takes
      ha_first_health_seconds: 1     # an HA agent publishes nothing new for this long after it starts
      setup_version: 2.7.2           # ovirt-hosted-engine-setup on the deployment host (4.5; 2.5.4-2 is 4.4's last)
      collection_version: 3.2.1      # ovirt-ansible-collection beside it: which appliance package the deploy uses
      host_packages: {vdsm: 4.50.3.4-1.el8, libvirt: 8.0.0-22.module_el8, qemu-kvm: 6.2.0-41.module_el8}
                                     # what rpm says of these on a host whose `rpms:` does not list them
      appliance_disk_gb: 50          # virtual size of the appliance disk the role would install when the
                                     # deploy host has none (an installed one's image says its own)
      pause_seconds: 86400           # how long the role pauses on a failed restore (pause_execution.yml)
      backup_seconds: 0              # how long engine-backup --mode=backup takes (its dumps)
      engine_vm_ssh_port: 2227       # SSH port of the new Engine VM host `engine-vm` (after the deploy)
      repos: [{id, name}]            # yum repolist
      modules: {name: [streams]}     # dnf module enable/list
      dns: [{name, address}]         # getent hosts, besides every host's fqdn/address

The appliance. A host's appliance package is described by the host's `rpms:` key (what rpm's database
holds: version, release, arch, provides, files; lab/commands/packages.py) and its files (the discovery
file, the image, the %doc rpm manifest) by the host's `files:`, as ovirt-appliance's
engine-appliance/data/ovirt-engine-appliance.spec.in installs them. The Engine inside the image is the
ovirt-engine-tools-backup (else ovirt-engine) the manifest lists: the deploy's restore and the new Engine
run that version. The image is a real qcow2 header (4.5.7) or a gzipped OVA holding the OVF and such a
disk (up to 4.5.5), lab/images.py: its virtual size is what the deploy sizes the Engine VM's disk by.
`appliance_site_entries()` builds such a description (4.5.5-style OVA package or 4.5.7-style kiwi package)
for a site variant; the default site's deploy host carries exactly what it builds
for Engine 4.5.6.
"""

import copy
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import threading
import time
from pathlib import Path

from lab import images
from lab.engine_api import EngineApi, load_model
from lab.site import SiteError

log = logging.getLogger("lab.ovirt_site")

DEFAULTS = {
    "engine_api_port": 8443,
    "engine_api_new_port": 8444,
    "engine_model": None,
    "engine_delays": None,
    "update_pending": {"setup": True, "engine": True, "os": True},
    "os_version": "centos8",
    "appliance_engine_version": "4.5.6",
    "deploy_seconds": 2,
    "ha_first_health_seconds": 1,
    "setup_version": "2.7.2",
    "collection_version": "3.2.1",
    "host_packages": {"vdsm": "4.50.3.4-1.el8", "libvirt": "8.0.0-22.module_el8", "qemu-kvm": "6.2.0-41.module_el8"},
    "appliance_disk_gb": 50,
    "pause_seconds": 86400,
    "backup_seconds": 0,
    "appliance_install_seconds": 0,
    "engine_vm_ssh_port": 2227,
    "repos": [
        {"id": "appstream", "name": "CentOS Stream 8 - AppStream"},
        {"id": "baseos", "name": "CentOS Stream 8 - BaseOS"},
        {"id": "ovirt-45-upstream", "name": "oVirt upstream for CentOS Stream 8 - oVirt 4.5"},
        {
            "id": "ovirt-45-centos-stream-openstack-yoga",
            "name": "CentOS Stream 8 - oVirt 4.5 - OpenStack Yoga Repository",
        },
    ],
    "modules": {
        "javapackages-tools": ["201801"],
        "pki-deps": ["10.6"],
        "postgresql": ["12", "13"],
        "mod_auth_openidc": ["2.3"],
        "nodejs": ["14", "16"],
    },
    "dns": [{"name": "she-engine.lab.example", "address": "192.0.2.60"}],
}


def settings(site):
    """The site's `ovirt` section merged over DEFAULTS."""
    return {**DEFAULTS, **(site.extra.get("ovirt") or {})}


def pinned_in_site(site, key):
    return key in (site.extra.get("ovirt") or {})


def reboot(host):
    """The host restarts: enabled services run again (newly started), the others are stopped."""
    for unit, service in host.services.items():
        if service["active"]:
            host.service_event(unit, "stop")
        if service["enabled"] and not service.get("masked"):
            host.service_event(unit, "start")
    host.record("engine", "reboot", 0)


class EngineServices:
    """Starts/stops the Engine APIs of a Lab and describes them for lab.json."""

    def __init__(self, lab):
        self.lab = lab
        self.cfg = settings(lab.site)
        check_appliances(lab.site)
        self.original = self.new = None

    def host_by_role(self, role):
        return next((h for h in self.lab.hosts.values() if h.spec.role == role), None)

    def _port(self, key):
        """A port the site file names is kept even with --random-ports, so a test can plan for it."""
        return int(self.cfg[key]) if pinned_in_site(self.lab.site, key) or not self.lab.random_ports else 0

    def _start(self, api):
        try:
            return api.start()
        except OSError as exc:
            raise RuntimeError(f"engine API: cannot listen on 127.0.0.1:{api.port}: {exc.strerror}") from None

    def start(self):
        engine_host = self.host_by_role("original-engine")
        model = None
        if self.cfg["engine_model"]:
            model = load_model(str(Path(self.lab.site.path).parent / self.cfg["engine_model"]))

        def engine_up():
            return bool(engine_host and engine_host.services.get("ovirt-engine", {}).get("active"))

        self.original = self._start(
            EngineApi(
                str(self.lab.state_dir / "engine-api"),
                model,
                port=self._port("engine_api_port"),
                is_up=engine_up,
                delays=self.cfg["engine_delays"],
                monitor=self._monitor(None),
                reachable=lambda: not (engine_host and engine_host.powered_off),
            )
        )
        if (self.lab.state_dir / "engine-api-new" / "state.json").exists():
            self.start_new()
        threading.Thread(target=self._sync_loop, name="he-node-sync", daemon=True).start()

    def _sync_loop(self):
        """Follow the new Engine's host installs even when nobody runs a command."""
        while not self.lab.stopping.wait(0.5):
            try:
                self.sync_nodes()
            except Exception:  # keep following; the next command syncs again
                log.exception("hosted-engine node sync failed")

    def api_host_for(self, host, api_hosts):
        """The new Engine's host entity whose name or address is this lab host's name, FQDN or address."""
        names = {host.name, host.fqdn, host.spec.address}
        return next((h for h in api_hosts if h["name"] in names or h["address"] in names), None)

    def _monitor(self, api):
        """HostMonitoring's view of a lab host: its VDSM's haStats (lab/commands/hosted_engine.py ha_info)."""
        from lab.commands import hosted_engine  # the commands import this module

        def monitor(api_host):
            site = (api or self.original).site
            return hosted_engine.ha_info(self.lab, api_host, site.state)

        return monitor

    def sync_nodes(self):
        """Lab hosts do what the Engines asked of them: host-deploy at the end of an install (deploying or
        undeploying hosted-engine with deploy_hosted_engine/undeploy_hosted_engine), and VDSM's
        setHaMaintenanceMode when a hosted-engine host goes to or leaves maintenance."""
        for api in (self.original, self.new):
            if api is None or not api.site.state.get("host_calls"):  # nothing asked: no lock taken
                continue
            with api.site.lock:
                calls = api.site.host_calls()
            for call in calls:
                self._host_call(call, api is self.new)

    def _host_call(self, call, new_engine=False):
        from lab.commands import hosted_engine  # the commands import this module

        host = next((h for h in self.lab.hosts.values() if self.api_host_for(h, [call])), None)
        if host is None:
            return
        with host.lock:
            deployed = bool(host.ovirt.get("he", {}).get("deployed"))
            if call["call"] == "fence-restart":  # the power agent's restart: the machine comes up again
                host.record("engine", "power management: restart", 0)
                host.power_on()
            elif call["call"] == "setHaMaintenanceMode" and deployed:
                host.ovirt["he"]["maintenance"] = call["local"]
                host.record("engine", f"vdsm: setHaMaintenanceMode local={call['local']}", 0)
            elif call["call"] == "host-deploy":
                if call["hosted_engine"] == "deploy":
                    hosted_engine.he_node_deploy(host, self.lab, call["spm_id"])
                elif call["hosted_engine"] == "undeploy":
                    hosted_engine.he_node_undeploy(host)
                host.record(
                    "engine",
                    "host-deploy" + (f": hosted-engine {call['hosted_engine']}" if call["hosted_engine"] else ""),
                    0,
                )
                if new_engine:
                    self._host_deploy_log(host, call)
                if call.get("reboot"):
                    reboot(host)

    def _host_deploy_log(self, host, call):
        """The new Engine's log of one host-deploy, on its VM (InstallVdsInternalCommand: /var/log/ovirt-engine/
        host-deploy/ovirt-host-deploy-ansible-{hostname}-{correlationid}-{timestamp}.log, as its comment has it);
        the lines are the lab's. The original Engine's own logs are not modelled."""
        vm = self.lab.hosts.get("engine-vm")
        if vm is None:
            return
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        name = f"ovirt-host-deploy-ansible-{host.fqdn}-{call.get('correlation_id') or 'lab'}-{stamp}.log"
        with vm.lock:
            vm.fs.mkdir("/var/log/ovirt-engine/host-deploy", parents=True)
            vm.fs.write(
                f"/var/log/ovirt-engine/host-deploy/{name}",
                f"TASK [ovirt-host-deploy-facts]\nhosted-engine: {call['hosted_engine'] or 'none'}\n"
                f"PLAY RECAP {host.fqdn}: ok\n".encode(),
                0o600,
            )
            vm.save()

    def start_new(self, state=None):
        """Start the new Engine's API; `state` (the restored entities) is written first."""
        directory = self.lab.state_dir / "engine-api-new"
        directory.mkdir(parents=True, exist_ok=True)
        # The restored Engine keeps the CA from the backup (/etc/pki/ovirt-engine), so clients keep trusting it.
        for name in ("ca.pem", "ca.key"):
            if not (directory / name).exists():
                shutil.copy2(self.lab.state_dir / "engine-api" / name, directory / name)
        if state is not None:
            if self.new is not None:
                self.new.stop()
                self.new = None
            tmp = directory / ".state.json.tmp"
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
            os.replace(tmp, directory / "state.json")
        from lab.commands import hosted_engine  # the commands import this module

        def he_vm_up():  # the new Engine answers while its VM runs
            with self.new.site.lock:
                return hosted_engine.he_vm_host(self.new.site.state) is not None

        api = EngineApi(
            str(directory), {}, port=self._port("engine_api_new_port"), is_up=he_vm_up, delays=self.cfg["engine_delays"]
        )
        api.site.monitor = self._monitor(api)
        self.new = self._start(api)
        return self.new

    def snapshot(self):
        """A copy of the original Engine's entities, as its database holds them."""
        site = self.original.site
        with site.lock:
            site.refresh()
            return copy.deepcopy(site.state)

    def info(self):
        out = {}
        for key, api in (("engine_api", self.original), ("engine_api_new", self.new)):
            if api is not None:
                out[key] = {"url": api.url, "ca_file": api.ca_file}
        return out

    def stop(self):
        for api in (self.original, self.new):
            if api is not None:
                api.stop()


# --- the appliance -----------------------------------------------------------------------------------
APPLIANCE_CAPABILITY = "ovirt-engine-appliance"  # 4.5.7: `Provides: ovirt-engine-appliance = @VERSION@`
APPLIANCE_DIR = "/usr/share/ovirt-engine-appliance"
HE_DISCOVERY_DIR = "/etc/ovirt-hosted-engine"
# The appliance's Engine, as engine-backup inside it reports its own version (PACKAGE_VERSION comes with
# ovirt-engine-tools-backup; ovirt-engine requires it at the same version-release).
ENGINE_VERSION_PACKAGES = ("ovirt-engine-tools-backup", "ovirt-engine")


def manifest_packages(text):
    """{name: (version, release)} from an appliance's rpm manifest: `rpm -qa | sort -u` lines
    NAME-VERSION-RELEASE.ARCH (engine-appliance/Makefile up to 4.5.5, guestfish on the image), or kiwi's
    image .packages lines NAME|EPOCH|VERSION|RELEASE|ARCH|DISTURL|LICENSE (4.5.7's Makefile moves that
    file to the manifest)."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if "|" in line:
            fields = line.split("|")
            if len(fields) >= 5:
                found[fields[0]] = (fields[2], fields[3])
            continue
        name, dash, rest = line.rpartition("-")  # RELEASE.ARCH
        name, dash2, version = name.rpartition("-")
        if dash and dash2 and name and "." in rest:
            found[name] = (version, rest.rsplit(".", 1)[0])
    return found


def engine_package_version(version, release):
    """engine-backup's PACKAGE_VERSION for an ovirt-engine rpm VERSION-RELEASE: ovirt-engine's Makefile
    makes it `$(RPM_VERSION)$(if $(MILESTONE),_$(MILESTONE))`, and version.mak gives snapshot builds the
    release `0.$(MILESTONE).<date>` (inferred: the milestone is read back from that release)."""
    milestone = re.match(r"0\.([A-Za-z][A-Za-z0-9]*)\.", release or "")
    return f"{version}_{milestone.group(1)}" if milestone else version


def manifest_engine_version(text):
    """The Engine version an appliance's manifest lists (None when it lists no Engine)."""
    packages = manifest_packages(text)
    for name in ENGINE_VERSION_PACKAGES:
        if name in packages:
            return engine_package_version(*packages[name])
    return None


def is_appliance(name, rpm):
    """Whether a package (with its `rpms:` entry, or None) provides ovirt-engine-appliance."""
    provides = [str(p).split()[0] for p in (rpm or {}).get("provides", [])]
    return name == APPLIANCE_CAPABILITY or APPLIANCE_CAPABILITY in provides


def check_appliances(site):
    """A site whose deploy host ships an appliance manifest and also pins another
    `ovirt.appliance_engine_version` contradicts itself: refused when the lab starts."""
    if not pinned_in_site(site, "appliance_engine_version"):
        return
    pinned = str(settings(site)["appliance_engine_version"])
    for host in site.hosts:
        rpms = host.extra.get("rpms") or {}
        for name in host.packages:
            if not is_appliance(name, rpms.get(name)):
                continue
            docs = [f for f in (rpms.get(name) or {}).get("files", []) if f.endswith("-manifest-rpm")]
            for spec in host.files:
                if spec.path in docs and manifest_engine_version(spec.content or "") not in (None, pinned):
                    raise SiteError(
                        f"host {host.name}: the manifest {spec.path} of {name} lists Engine "
                        f"{manifest_engine_version(spec.content)}, but ovirt.appliance_engine_version "
                        f"is {pinned}: change the manifest, or drop the setting"
                    )


def appliance_site_entries(
    engine_version, kiwi=False, distro="centos9", appliance_version=None, release=None, docs=True, disk_gb=50
):
    """What a site file gives a host for an installed appliance holding Engine ENGINE_VERSION (a
    PACKAGE_VERSION such as 4.5.6 or 4.5.8_master): {"package": name, "rpm": its `rpms:` entry,
    "files": its `files:`}, as ovirt-appliance builds the package:

    * up to 4.5.5 (kiwi=False; engine-appliance/data/ovirt-engine-appliance.spec.in at
      ovirt-engine-appliance-4.5.5): Name `ovirt-engine-appliance`, Version X.Y, Release
      `<build date>.1.el8`, the OVA, `10-appliance.conf`, %doc `ovirt-engine-appliance-manifest-rpm`
      (`rpm -qa | sort -u` of the image);
    * 4.5.7 (kiwi=True; the spec at ovirt-engine-appliance-4.5.7): Name `ovirt-engine-appliance-<distro>`,
      Version 4.5.7, Release `1.el9` (a CBS release build), `Provides: ovirt-engine-appliance = 4.5.7`, the
      qcow2, `10-appliance-<distro>.conf`, %doc `ovirt-engine-appliance-<distro>-manifest-rpm` (kiwi's
      NAME|EPOCH|VERSION|RELEASE|ARCH|DISTURL|LICENSE list).

    docs=False leaves the manifest out of the host's files (installed with --excludedocs) while rpm still
    lists it. DISK_GB is the image's virtual size in GiB (the value upstream builds is not stated in
    ovirt-appliance; 50 is the lab's)."""
    el = "el9" if kiwi else "el8"
    number, _, milestone = str(engine_version).partition("_")
    engine_release = f"0.{milestone}.20250101000000.{el}" if milestone else f"1.{el}"
    if kiwi:
        name, version = f"ovirt-engine-appliance-{distro}", appliance_version or "4.5.7"
        release = release or f"1.{el}"
        image = f"{APPLIANCE_DIR}/{name}-{version}-{release}.qcow2"
        conf, summary = f"{HE_DISCOVERY_DIR}/10-appliance-{distro}.conf", "The oVirt Engine Appliance image (qcow2)"
    else:
        name = APPLIANCE_CAPABILITY
        version = appliance_version or ".".join(number.split(".")[:2])
        release = release or f"20240101000000.1.{el}"
        image = f"{APPLIANCE_DIR}/{name}-{version}-{release}.ova"
        conf, summary = f"{HE_DISCOVERY_DIR}/10-appliance.conf", "The oVirt Engine Appliance image (OVA)"
    manifest = f"/usr/share/doc/{name}/{name}-manifest-rpm"
    packages = [
        ("bash", *(("5.1.8", "9.el9") if kiwi else ("4.4.20", "5.el8")), "x86_64", "GPLv3+"),
        ("ovirt-engine", number, engine_release, "noarch", "ASL 2.0"),
        ("ovirt-engine-backend", number, engine_release, "noarch", "ASL 2.0"),
        ("ovirt-engine-setup", number, engine_release, "noarch", "ASL 2.0"),
        ("ovirt-engine-tools", number, engine_release, "noarch", "ASL 2.0"),
        ("ovirt-engine-tools-backup", number, engine_release, "noarch", "ASL 2.0"),
        ("postgresql-server", "12.22" if not kiwi else "13.20", f"1.{el}", "x86_64", "PostgreSQL"),
        ("qemu-guest-agent", "6.2.0" if not kiwi else "9.1.0", f"1.{el}", "x86_64", "GPLv2 and LGPLv2+"),
    ]
    if kiwi:
        text = "".join(f"{n}|(none)|{v}|{r}|{a}|(none)|{lic}\n" for n, v, r, a, lic in sorted(packages))
    else:
        text = "".join(f"{n}-{v}-{r}.{a}\n" for n, v, r, a, _ in sorted(packages))
    size = int(disk_gb * images.GIB)
    image_data = images.qcow2_header(size) if kiwi else images.ova(posixpath.basename(image), size)
    sha1 = hashlib.sha1(image_data).hexdigest()
    files = [
        {
            "path": conf,
            "mode": 0o644,
            "content": f"description={summary}\nversion={version}-{release}\npath={image}\nsha1sum={sha1}\n",
        },
        {"path": image, "mode": 0o644, "content": image_data},
    ]
    if docs:
        files.append({"path": manifest, "mode": 0o644, "content": text})
    rpm = {
        "version": version,
        "release": release,
        "arch": "x86_64",
        "files": sorted([conf, APPLIANCE_DIR, image, manifest]),
    }
    if kiwi:
        rpm["provides"] = [f"{APPLIANCE_CAPABILITY} = {version}"]
    return {"package": name, "rpm": rpm, "files": files}


OS_NAMES = {"centos": "CentOS Stream", "rhel": "Red Hat Enterprise Linux", "almalinux": "AlmaLinux"}


def set_os_release(host, os_id, version_id):
    """Give a site file's host (a dict of the parsed YAML) an /etc/os-release of OS_ID VERSION_ID, the lines
    the deploy's distribution facts read (ID, VERSION_ID), over its template's."""
    name = OS_NAMES.get(os_id, os_id)
    content = f'NAME="{name}"\nVERSION="{version_id}"\nID="{os_id}"\nVERSION_ID="{version_id}"\n'
    content += f'PLATFORM_ID="platform:el{version_id.split(".")[0]}"\nPRETTY_NAME="{name} {version_id}"\n'
    host["files"] = [f for f in host.get("files", []) if f["path"] != "/etc/os-release"]
    host["files"].append({"path": "/etc/os-release", "mode": 0o644, "content": content})
    return host


def ship_appliance(host, engine_version=None, **options):
    """Replace the appliance of a site file's host (a dict of the parsed YAML) by
    appliance_site_entries(ENGINE_VERSION, **options); engine_version None removes it."""
    rpms = host.setdefault("rpms", {})
    old = [n for n in host.get("packages", []) if is_appliance(n, rpms.get(n))]
    paths = {f for n in old for f in (rpms.get(n) or {}).get("files", [])}
    host["packages"] = [n for n in host.get("packages", []) if n not in old]
    host["files"] = [f for f in host.get("files", []) if f["path"] not in paths]
    for name in old:
        rpms.pop(name, None)
    if engine_version is not None:
        entries = appliance_site_entries(engine_version, **options)
        host["packages"].append(entries["package"])
        rpms[entries["package"]] = entries["rpm"]
        host["files"] += entries["files"]
    if not rpms:
        host.pop("rpms")
    return host
