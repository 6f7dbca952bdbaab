"""Names on the site: getent hosts (the site's DNS) and ssh-keyscan."""

from lab.commands import command
from lab.commands.accounts import getent_database
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


def _ssh_target(lab, name):
    """The lab host NAME resolves to; the Engine VM takes over the Engine's FQDN after the deploy."""
    found = [h for h in lab.hosts.values() if name in (h.name, h.fqdn, h.spec.address)]
    found.sort(key=lambda h: h.spec.role != "new-engine-vm")
    return found[0] if found else None


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
        host = _ssh_target(lab, name)
        if host is None:
            ctx.error(f"getaddrinfo {name}: Name or service not known")
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
