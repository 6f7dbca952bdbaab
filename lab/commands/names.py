"""Names and addresses on the site: getent hosts (the site's DNS), which machine answers at an address,
ping and ssh-keyscan."""

import ipaddress

from lab.commands import command
from lab.commands.accounts import getent_database
from lab.commands.hostfacts import nics
from lab.commands.ovirt import _lab
from lab.ovirt_site import settings
from lab.transport.shell import Unsupported


def dns_records(lab):
    records = [(h.fqdn, h.spec.address) for h in lab.hosts.values()]
    records += [(r["name"], r["address"]) for r in settings(lab.site)["dns"]]
    return records


@getent_database("hosts")
def getent_hosts(ctx, keys):
    """getent hosts [NAME|ADDRESS...] from the site's DNS: every host's FQDN and address, and `ovirt.dns`."""
    records = dns_records(_lab(ctx))
    if not keys:
        for name, address in records:
            ctx.print(f"{address:15} {name}")
        return 0
    status = 0
    for key in keys:
        match = [(n, a) for n, a in records if key.lower() == n.lower() or key == a]
        if not match:
            status = 2
            continue
        name, address = match[0]
        ctx.print(f"{address:15} {name}")
    return status


_KEYSCAN_TYPES = {"rsa", "dsa", "ecdsa", "ed25519"}


def host_addresses(host):
    """The IPv4 addresses a lab machine holds: its NICs' and its `address`."""
    return {host.spec.address} | {str(ipaddress.ip_interface(n["cidr"]).ip) for n in nics(host.spec)}


def answering(lab, address):
    """The machine that answers at ADDRESS, or None: one powered on that holds it. When two hold it, the one
    that held it first (the lab's hosts before the Engine VM the deploy adds): on a real network both answer
    ARP and which one a client reaches is not determined, so the lab takes the case that fails a takeover."""
    holders = [h for h in lab.hosts.values() if not h.powered_off and address in host_addresses(h)]
    holders.sort(key=lambda h: h.spec.role == "new-engine-vm")
    return holders[0] if holders else None


def address_of(lab, name):
    """NAME as the site resolves it: an address stays itself, a lab host's name or an FQDN goes by the DNS."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    host = lab.hosts.get(name)
    if host is not None:
        return host.spec.address
    return next((a for n, a in dns_records(lab) if n.lower() == name.lower()), None)


@command("ping")
def ping(ctx):
    """ping -c COUNT [-W TIMEOUT] [-q] DEST (iputils 20180629, EL8): an echo reply from the machine that
    answers at DEST's address, exit 0; none, exit 1; a name that does not resolve, exit 2. Replies take no
    time in the lab; a missing one does not wait out -W."""
    opts, dests = ctx.opts("c:W:qn")
    given = dict(opts)
    if "-c" not in given or len(dests) != 1:
        raise Unsupported("ping: only `ping -c COUNT [-W TIMEOUT] [-q] [-n] DEST` is implemented")
    count, dest = int(given["-c"]), dests[0]
    address = address_of(_lab(ctx), dest)
    if address is None:
        ctx.error(f"ping: {dest}: Name or service not known")
        return 2
    up = answering(_lab(ctx), address) is not None
    ctx.print(f"PING {dest} ({address}) 56(84) bytes of data.")
    if up and "-q" not in given:
        for seq in range(1, count + 1):
            ctx.print(f"64 bytes from {address}: icmp_seq={seq} ttl=64 time=0.045 ms")
    received = count if up else 0
    ctx.print(f"\n--- {dest} ping statistics ---")
    ctx.print(
        f"{count} packets transmitted, {received} received, {100 - 100 * received // count}% packet loss, time 0ms"
    )
    if up:
        ctx.print("rtt min/avg/max/mdev = 0.045/0.045/0.045/0.000 ms")
    return 0 if up else 1


@command("ssh-keyscan")
def ssh_keyscan(ctx):
    """ssh-keyscan [-q] [-p PORT] [-t TYPES] [-T TIMEOUT] NAME... (OpenSSH 8.0, EL8).

    Key lines `NAME TYPE BASE64` on stdout (`[NAME]:PORT` when the port is not 22, put_host_port);
    the `# NAME:PORT BANNER` comment per host on stderr unless -q; connection and lookup errors on
    stderr; the exit status is 0 (OpenSSH 8.0's main returns 0). Port 22 or the host's lab port reach
    the lab host's sshd. The lab hosts only have an ed25519 key."""
    import paramiko

    opts, names = ctx.opts("46cDHqvf:p:t:T:")
    port, types, quiet = 22, ["rsa", "ecdsa", "ed25519"], False
    for opt, value in opts:
        if opt == "-p":
            port = int(value)
        elif opt == "-t":
            types = value.split(",")
            bad = [t for t in types if t not in _KEYSCAN_TYPES and not t.startswith("ssh-")]
            if bad:
                ctx.error(f'Unknown key type "{bad[0]}"')
                return 255
        elif opt == "-q":
            quiet = True
        elif opt in ("-H", "-c", "-D", "-f", "-v"):
            raise Unsupported(f"ssh-keyscan: option not implemented: {opt}")
    if not names:
        ctx.error(
            "usage: ssh-keyscan [-46cDHqv] [-f file] [-p port] [-T timeout] [-t type]\n"
            "\t\t   [host | addrlist namelist]"
        )
        return 1
    lab = _lab(ctx)
    for name in names:
        address = address_of(lab, name)
        if address is None:
            ctx.error(f"getaddrinfo {name}: Name or service not known")
            continue
        host = answering(lab, address)
        if host is None:
            ctx.error(f"connect (`{name}'): No route to host")
            continue
        if port not in (22, lab.port(host.name)):
            ctx.error(f"connect (`{name}'): Connection refused")
            continue
        if not quiet:
            ctx.error(f"# {name}:{port} SSH-2.0-paramiko_{paramiko.__version__}")
        if "ed25519" not in types and "ssh-ed25519" not in types:
            continue
        key = lab.keys[host.name]
        ctx.print(f"{name if port == 22 else f'[{name}]:{port}'} {key.get_name()} {key.get_base64()}")
    return 0
