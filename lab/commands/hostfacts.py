"""Read-only host facts for the preflight: /proc/meminfo and /proc/cpuinfo (through `cat`), `nproc`,
`ip` (-o -4 addr show, -o link show, route show default), `showmount -e`, `df -B1 --output=avail`
(`rpm -q ovirt-engine-appliance` is in commands/packages.py's rpm).

Facts come from the site file (lab/README.md, "Host facts"): `ram_mb`, `cpus`, `cpu_flags`, and the
optional host keys `nics: [{name, cidr, mac}]`, `gateway`, `disk_avail: {PATH: bytes}`. A host without
`nics` has one NIC `eth0` at its `address`/24 with gateway .1 of that subnet.
"""

import ipaddress
import re
import uuid

from lab.commands import command
from lab.commands.files import generated_file
from lab.commands.nfs import read_etab
from lab.transport.shell import Unsupported

DEFAULT_DISK_AVAIL = 500 << 30  # 500 GiB


def nics(spec):
    given = spec.extra.get("nics")
    if given is not None:
        return given
    number = sum(ord(c) for c in spec.name) % 256
    return [{"name": "eth0", "cidr": f"{spec.address}/24", "mac": f"52:54:00:4c:61:{number:02x}"}]


def gateway(spec):
    if "gateway" in spec.extra:
        return spec.extra["gateway"]
    for nic in nics(spec):
        return str(next(ipaddress.ip_interface(nic["cidr"]).network.hosts()))
    return None


def _meminfo(spec):
    total = spec.ram_mb * 1024
    return (
        f"MemTotal:       {total:>8} kB\nMemFree:        {total // 2:>8} kB\n"
        f"MemAvailable:   {total * 3 // 4:>8} kB\nSwapTotal:             0 kB\n"
    )


BASE_CPU_FLAGS = ("fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic")


def _cpuinfo(spec):
    flags = " ".join([*BASE_CPU_FLAGS, *spec.cpu_flags])
    return "".join(
        f"processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Lab CPU\n"
        f"cpu cores\t: {spec.cpus}\nflags\t\t: {flags}\n\n"
        for n in range(spec.cpus)
    )


def cpu_models(spec):
    """The libvirt CPU models usable on the host (site key `cpu_models`)."""
    return list(spec.extra.get("cpu_models") or [])


def vdsm_cpu_flags(spec):
    """cpuFlags as VDSM reports them to the Engine (vdsm lib/vdsm/host/caps.py): the kernel's flags and `model_<M>`
    for every usable libvirt model (lib/vdsm/machinetype.py cpu_models)."""
    return [*BASE_CPU_FLAGS, *spec.cpu_flags, *(f"model_{m}" for m in cpu_models(spec))]


# vdsm lib/vdsm/common/dsaversion.py.in `version_info()`, by the first tag with each rule (v4.40.1 to v4.50.7): the
# cluster levels always reported, and those added when libvirt (and qemu-kvm) are at least a version
DSA_CLUSTER_LEVELS = (
    ((4, 50, 6, 1), ["4.2", "4.3", "4.4", "4.5", "4.6"], [("4.7", (8, 0), (0,)), ("4.8", (10, 10), (9, 1))]),
    ((4, 50, 0, 6), ["4.2", "4.3", "4.4", "4.5", "4.6"], [("4.7", (8, 0), (0,))]),
    ((4, 50, 0, 3), ["4.2", "4.3", "4.4", "4.5", "4.6"], [("4.7", (7, 10), (0,))]),
    ((4, 40, 60, 1), ["4.2", "4.3", "4.4"], [("4.5", (6, 6), (0,)), ("4.6", (7, 0), (0,))]),
    ((4, 40, 30), ["4.2", "4.3", "4.4"], [("4.5", (6, 6), (0,))]),
    ((4, 40, 1), ["4.2", "4.3", "4.4"], []),
)


def _numbers(version):
    return tuple(int(n) for n in re.findall(r"\d+", version.split("-")[0]))


def vdsm_cluster_levels(host):
    """clusterLevels as the host's VDSM reports them in getCapabilities, from its vdsm, libvirt and qemu-kvm
    packages (osinfo.package_versions); a VDSM older than 4.40.1 is not modelled."""
    from lab.commands.packages import host_package_version  # packages imports the oVirt side, which imports this

    vdsm = host_package_version(host, "vdsm")
    rule = next((r for r in DSA_CLUSTER_LEVELS if vdsm and _numbers(vdsm) >= r[0]), None)
    if rule is None:
        raise Unsupported(f"the cluster levels of vdsm {vdsm} on {host.spec.name} are not modelled (4.40.1 on)")
    libvirt = _numbers(host_package_version(host, "libvirt") or "0")[:2]
    qemu = _numbers(host_package_version(host, "qemu-kvm") or "0")[:2]
    return rule[1] + [
        level for level, at_least, qemu_at_least in rule[2] if libvirt >= at_least and qemu >= qemu_at_least
    ]


def _fips_enabled(spec):
    return b"1\n" if spec.extra.get("fips") else b"0\n"


for _path, _render in (("/proc/meminfo", _meminfo), ("/proc/cpuinfo", _cpuinfo)):
    generated_file(_path)(lambda ctx, render=_render: render(ctx.host.spec).encode())


generated_file("/proc/sys/crypto/fips_enabled")(lambda ctx: _fips_enabled(ctx.host.spec))


def system_uuid(spec):
    """The machine's SMBIOS system UUID (`dmidecode -s system-uuid`, /sys/class/dmi/id/product_uuid): the site key
    `system_uuid`, else one the lab derives from the host's FQDN."""
    return str(spec.extra.get("system_uuid") or uuid.uuid5(uuid.NAMESPACE_DNS, spec.fqdn))


generated_file("/sys/class/dmi/id/product_uuid")(lambda ctx: (system_uuid(ctx.host.spec) + "\n").encode())


def domain_capabilities(ctx):
    """`virsh -r domcapabilities` (libvirt): the host-model and the custom models with `usable`, as virsh prints
    the domain capabilities XML; only the <cpu> element the lab models."""
    models = "".join(f"      <model usable='yes' vendor='Intel'>{m}</model>\n" for m in cpu_models(ctx.host.spec))
    ctx.print("<domainCapabilities>")
    ctx.print("  <cpu>")
    ctx.print("    <mode name='custom' supported='yes'>")
    ctx.print(models + "    </mode>", end="\n")
    ctx.print("  </cpu>")
    ctx.print("</domainCapabilities>")
    return 0


@command("nproc")
def nproc(ctx):
    if ctx.args:
        raise Unsupported("nproc: options are not implemented")
    ctx.print(str(ctx.host.spec.cpus))
    return 0


@command("ip")
def ip(ctx):
    """iproute2: `ip -o -4 addr show`, `ip -o link show`, `ip route show default`."""
    args = ctx.args
    spec = ctx.host.spec
    if args == ["-o", "-4", "addr", "show"]:
        ctx.print("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever")
        for index, nic in enumerate(nics(spec), 2):
            iface = ipaddress.ip_interface(nic["cidr"])
            ctx.print(
                f"{index}: {nic['name']}    inet {nic['cidr']} brd {iface.network.broadcast_address} "
                f"scope global {nic['name']}\\       valid_lft forever preferred_lft forever"
            )
        return 0
    if args == ["-o", "link", "show"]:
        ctx.print(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group "
            "default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"
        )
        for index, nic in enumerate(nics(spec), 2):
            ctx.print(
                f"{index}: {nic['name']}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP "
                f"mode DEFAULT group default qlen 1000\\    link/ether {nic['mac']} brd ff:ff:ff:ff:ff:ff"
            )
        return 0
    if args == ["route", "show", "default"]:
        via = gateway(spec)
        if via:
            device = next(
                (
                    n["name"]
                    for n in nics(spec)
                    if ipaddress.ip_address(via) in ipaddress.ip_interface(n["cidr"]).network
                ),
                nics(spec)[0]["name"] if nics(spec) else "eth0",
            )
            ctx.print(f"default via {via} dev {device} proto static metric 100 ")
        return 0
    raise Unsupported(
        f"ip: only `-o -4 addr show`, `-o link show` and `route show default` are implemented: {' '.join(args)}"
    )


def _find_host(lab, name):
    for host in lab.hosts.values():
        if name in (host.name, host.fqdn, host.spec.address):
            return host
    return None


@command("showmount")
def showmount(ctx):
    """showmount -e SERVER (nfs-utils): `Export list for SERVER:` then `PATH CLIENTS` from the server's etab."""
    if len(ctx.args) != 2 or ctx.args[0] not in ("-e", "--exports"):
        raise Unsupported("showmount is implemented as: showmount -e SERVER")
    server = ctx.args[1]
    lab = getattr(ctx.host, "lab", None)
    host = _find_host(lab, server) if lab is not None else None
    if host is None:
        ctx.error("clnt_create: RPC: Unknown host")
        return 1
    if not host.services.get("nfs-server", {}).get("active"):
        ctx.error("clnt_create: RPC: Program not registered")
        return 1
    exports = {}
    for path, client, _ in read_etab(host.fs):
        exports.setdefault(path, []).append(client)
    ctx.print(f"Export list for {server}:")
    width = max((len(p) for p in exports), default=0)
    for path, clients in sorted(exports.items()):
        ctx.print(f"{path:<{width}} {','.join(clients)}")
    return 0


@command("du")
def du(ctx):
    """`du -sb PATH` (coreutils): the apparent size in bytes of PATH and everything under it, then a tab and PATH;
    the host's optional `disk_used: {PATH: bytes}` adds what the lab holds no bytes of (a database's files)."""
    if len(ctx.args) != 2 or ctx.args[0] != "-sb":
        raise Unsupported("du is implemented as: du -sb PATH")
    path = ctx.path(ctx.args[1])
    if not ctx.fs.exists(path):
        ctx.error(f"du: cannot access '{ctx.args[1]}': No such file or directory")
        return 1
    below = path.rstrip("/") + "/"
    declared = ctx.host.spec.extra.get("disk_used") or {}
    size = sum(ctx.fs.get(p).size for p in ctx.fs.walk(path))
    size += sum(n for p, n in declared.items() if p == path or p.startswith(below))
    ctx.print(f"{size}\t{ctx.args[1]}")
    return 0


@command("df")
def df(ctx):
    """`df -B1 --output=avail PATH` (coreutils): the header `Avail` and the bytes available."""
    if len(ctx.args) != 3 or ctx.args[:2] != ["-B1", "--output=avail"]:
        raise Unsupported("df is implemented as: df -B1 --output=avail PATH")
    path = ctx.path(ctx.args[2])
    if not ctx.fs.exists(path):
        ctx.error(f"df: {ctx.args[2]}: No such file or directory")
        return 1
    avail = ctx.host.spec.extra.get("disk_avail") or {}
    best = max((p for p in avail if path == p or path.startswith(p.rstrip("/") + "/")), key=len, default=None)
    value = avail[best] if best is not None else DEFAULT_DISK_AVAIL
    ctx.print("        Avail")
    ctx.print(f"{value:>13}")
    return 0
