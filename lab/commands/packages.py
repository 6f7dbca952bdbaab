"""What is installed and what the repositories offer: yum/dnf (update, install, list, repolist, module), rpm -q
(--qf, -l/-d, --whatprovides) and nodectl check."""

import fnmatch
import re
import time
from types import SimpleNamespace

from lab.commands import command
from lab.commands.ovirt import ENGINE_PACKAGE, HE_PACKAGE, SETUP_PACKAGES, _cfg, _lab, _not_found, _state
from lab.ovirt_site import APPLIANCE_CAPABILITY, appliance_site_entries, manifest_engine_version
from lab.transport.shell import Unsupported


def he_installed(host):
    """ovirt-hosted-engine-setup is installed: listed, or pulled in by ovirt-host on a vdsm host
    (ovirt-host.spec: `Requires: ovirt-hosted-engine-setup` on x86_64)."""
    return HE_PACKAGE in host.packages or "vdsm" in host.packages


COLLECTION_PACKAGE = "ovirt-ansible-collection"  # ovirt-hosted-engine-setup.spec.in: Requires >= 3.0.0


def _dnf_header(ctx):
    ctx.print(f"Last metadata expiration check: 0:07:12 ago on {time.strftime('%a %d %b %Y %H:%M:%S %Z')}.")


@command("yum", "dnf")
def dnf(ctx):
    args = list(ctx.args)
    assume_yes = False
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-y", "--assumeyes"):
            assume_yes = True
        elif flag not in ("-q", "--quiet"):
            raise Unsupported(f"{ctx.name}: option not implemented: {flag}")
    rest = [a for a in args if a not in ("-y", "--assumeyes", "-q", "--quiet")]
    assume_yes = assume_yes or len(rest) != len(args)
    if not rest:
        ctx.error(f"{ctx.name}: error: the following arguments are required: command")
        return 1
    verb, operands = rest[0], rest[1:]
    failure = repo_failure(ctx) if verb in ("update", "upgrade", "install", "list") else None
    if failure:
        ctx.error(f"Error: {failure}")
        return 1
    if verb == "list":
        return _dnf_list(ctx, operands)
    if verb in ("update", "upgrade"):
        return _dnf_update(ctx, operands)
    if verb == "install":
        return _dnf_install(ctx, operands)
    if verb == "repolist":
        return _dnf_repolist(ctx, operands)
    if verb == "module":
        return _dnf_module(ctx, operands, assume_yes)
    raise Unsupported(f"{ctx.name}: command not implemented: {verb}")


# ovirt-engine.spec.in: ovirt-engine Requires ovirt-engine-tools = %{version}-%{release}, which Requires
# ovirt-engine-tools-backup (engine-backup) at the same version-release.
ENGINE_REQUIRES = ("ovirt-engine-tools", "ovirt-engine-tools-backup")
QUERY_TAGS = ("NAME", "EPOCH", "VERSION", "RELEASE", "ARCH", "NVR", "NVRA")


@command("rpm")
def rpm(ctx):
    """`rpm -q [--qf FORMAT] [-l|-d] NAME...` and `rpm -q --whatprovides CAPABILITY...` (rpm 4.14's
    query: one header per installed package; `package NAME is not installed` / `no package provides CAP`
    on stdout, the exit status counting them)."""
    args = list(ctx.args)
    first = args.pop(0) if args else ""
    if first not in ("-q", "--query", "-ql", "-qd"):
        raise Unsupported("rpm is implemented as: rpm -q [--qf FORMAT] [-l|-d] [--whatprovides] NAME...")
    listing = {"-ql": "list", "-qd": "docs"}.get(first)
    query_format, whatprovides, operands = None, False, []
    while args:
        arg = args.pop(0)
        if arg in ("--qf", "--queryformat") and args:
            query_format = args.pop(0)
        elif arg.startswith(("--qf=", "--queryformat=")):
            query_format = arg.split("=", 1)[1]
        elif arg == "--whatprovides":
            whatprovides = True
        elif arg in ("-l", "--list"):
            listing = "list"
        elif arg in ("-d", "--docfiles"):
            listing = listing or "docs"
        elif arg.startswith("-"):
            raise Unsupported(f"rpm -q: option not implemented: {arg}")
        else:
            operands.append(arg)
    if not operands:
        ctx.error("rpm: no arguments given for query")
        return 1
    if query_format is not None:
        bad = [t for t in re.findall(r"%-?\d*\{([^}]*)\}", query_format) if t.upper() not in QUERY_TAGS]
        if bad:
            ctx.error("error: incorrect format: unknown tag")
            return 1
    missing = 0
    for operand in operands:
        if whatprovides:
            found = [h for h in installed_headers(ctx) if operand in h["provides"]]
            if not found:
                ctx.print(f"no package provides {operand}")
        else:
            found = [h for h in installed_headers(ctx) if h["name"] == operand]
            if not found:
                ctx.print(f"package {operand} is not installed")
        missing += not found
        for header in found:
            _show(ctx, header, query_format, listing)
    return min(missing, 255)


def _show(ctx, header, query_format, listing):
    if listing:
        files = header["files"]
        if not files:
            ctx.print("(contains no files)")
        for path in files:
            if listing == "list" or path.startswith("/usr/share/doc/"):  # the appliance's %doc files
                ctx.print(path)
    elif query_format is not None:
        ctx.print(_format(query_format, header), end="")
    else:
        ctx.print(_nvra(header))


def _nvra(header):
    return f"{header['name']}-{header['version']}-{header['release']}.{header['arch']}"


def _format(query_format, header):
    """--queryformat: %{TAG} (with an optional width, %-20{NAME}), and the \n \t escapes rpm expands."""
    values = {
        "NAME": header["name"],
        "EPOCH": "(none)" if header["epoch"] is None else str(header["epoch"]),
        "VERSION": header["version"],
        "RELEASE": header["release"],
        "ARCH": header["arch"],
        "NVR": f"{header['name']}-{header['version']}-{header['release']}",
        "NVRA": _nvra(header),
    }

    def tag(match):
        width = match.group(1)
        value = values[match.group(2).upper()]
        return f"{value:{'<' if width.startswith('-') else '>'}{width.lstrip('-')}}" if width else value

    text = re.sub(r"%(-?\d*)\{([^}]*)\}", tag, query_format)
    return text.replace("\\n", "\n").replace("\\t", "\t")


def installed_headers(ctx):
    """What rpm's database holds for each installed package, in the order of the host's package list:
    its `rpms:` entry from the site file where it has one, else NAME-<Engine version>-1.el8.noarch with no
    files (and the appliance of an `ovirt.appliance_engine_version`: X.Y-<date>.1.el8.x86_64)."""
    names = list(dict.fromkeys(ctx.host.packages))
    if ENGINE_PACKAGE in names:
        names += [n for n in SETUP_PACKAGES if n not in names]
    if "ovirt-engine" in names:
        names += [n for n in ENGINE_REQUIRES if n not in names]
    if he_installed(ctx.host):
        names += [n for n in (HE_PACKAGE, COLLECTION_PACKAGE) if n not in names]
    return [package_header(ctx, n) for n in names]


def package_header(ctx, name):
    rpm = (ctx.host.spec.extra.get("rpms") or {}).get(name) or _state(ctx).get("rpms", {}).get(name)
    if rpm is not None:
        header = {
            "name": name,
            "epoch": rpm.get("epoch"),
            "version": str(rpm["version"]),
            "release": str(rpm["release"]),
            "arch": rpm.get("arch", "noarch"),
            "files": list(rpm.get("files", [])),
        }
    elif name == APPLIANCE_CAPABILITY:
        # the appliance rpm (up to 4.5.5) is versioned by X.Y and a build date (ovirt-appliance
        # engine-appliance/data/ovirt-engine-appliance.spec.in), the rest by the Engine's version
        major_minor = ".".join(re.findall(r"\d+", str(_cfg(ctx)["appliance_engine_version"]))[:2])
        header = {
            "name": name,
            "epoch": None,
            "version": major_minor,
            "release": "20240101000000.1.el8",
            "arch": "x86_64",
            "files": [],
        }
    elif name == COLLECTION_PACKAGE or name in _cfg(ctx)["host_packages"]:
        given = _cfg(ctx)["collection_version"] if name == COLLECTION_PACKAGE else _cfg(ctx)["host_packages"][name]
        version, _, release = str(given).partition("-")
        header = {"name": name, "epoch": None, "version": version, "release": release or "1.el8"}
        header.update(arch="noarch" if name == COLLECTION_PACKAGE else "x86_64", files=[])
    else:
        header = {
            "name": name,
            "epoch": None,
            "version": str(_lab(ctx).engines.original.site.engine["version"]),
            "release": "1.el8",
            "arch": "noarch",
            "files": [],
        }
    # every package provides its own name; the 4.5.7 appliance also `ovirt-engine-appliance = 4.5.7`
    header["provides"] = [name] + [str(p).split()[0] for p in (rpm or {}).get("provides", [])]
    return header


def host_package_version(host, name):
    """The VERSION rpm gives for NAME on HOST (a lab.host.Host), or None when it is not installed."""
    ctx = SimpleNamespace(host=host)
    return package_header(ctx, name)["version"] if name in installed_names(ctx) else None


def deploy_appliance(ctx):
    """The rpm header of the appliance the last deploy picked and installed (lab/commands/appliance_install.py),
    or None: a custom OVA, or no deploy got that far."""
    name = _state(ctx)["he"].get("appliance")
    return package_header(ctx, name) if name in installed_names(ctx) else None


def providing(ctx, capability):
    """The installed packages that provide CAPABILITY (each provides its own name), in the package list's order."""
    return [h for h in installed_headers(ctx) if capability in h["provides"]]


def installed_files(ctx, header, suffix):
    """The contents of the package's files ending with SUFFIX that are on disk, in rpm's order."""
    paths = (p for p in (header or {}).get("files", []) if p.endswith(suffix))
    return [ctx.fs.read(p).decode(errors="replace") for p in paths if ctx.fs.exists(p) and not ctx.fs.get(p).is_dir]


def appliance_engine_version(ctx):
    """The Engine inside the appliance the deploy uses: what its rpm manifest lists, or
    `ovirt.appliance_engine_version` when it has none on disk or the deploy uses a custom OVA."""
    for text in installed_files(ctx, deploy_appliance(ctx), "-manifest-rpm"):
        version = manifest_engine_version(text)
        if version:
            return version
    return str(_cfg(ctx)["appliance_engine_version"])


def installed_names(ctx):
    return {h["name"] for h in installed_headers(ctx)}


def _dnf_update(ctx, patterns):
    state, installed = _state(ctx), installed_names(ctx)
    pending = state["update_pending"]
    unmatched = [p for p in patterns if not fnmatch.filter(installed, p)]
    if unmatched:
        for p in unmatched:
            ctx.print(f"No match for argument: {p}")
        if len(unmatched) == len(patterns):
            ctx.error("Error: No packages marked for upgrade.")
            return 1
    matched = {n for p in patterns for n in fnmatch.filter(installed, p)} if patterns else installed
    version = _lab(ctx).engines.original.site.engine["version"]
    upgrades = []
    if pending["setup"] and matched & set(SETUP_PACKAGES):
        upgrades += [f"{n}-{version}-2.el8.noarch" for n in sorted(matched & set(SETUP_PACKAGES))]
    if pending["os"] and not patterns:
        upgrades += ["kernel-4.18.0-553.el8.x86_64", "systemd-239-82.el8.x86_64"]
    _dnf_header(ctx)
    ctx.print("Dependencies resolved.")
    if not upgrades:
        ctx.print("Nothing to do.")
        ctx.print("Complete!")
        return 0
    ctx.print("Upgraded:")
    for name in upgrades:
        ctx.print(f"  {name}")
    ctx.print("")
    ctx.print("Complete!")
    if matched & set(SETUP_PACKAGES):
        pending["setup"] = False
    if not patterns:
        pending["os"] = False
    return 0


def _dnf_install(ctx, names):
    if not names:
        ctx.error("Error: Need to pass a list of pkgs to install")
        return 1
    offered = available(ctx)
    missing = [n for n in names if not providing(ctx, n) and n not in offered and n not in LAB_PACKAGES]
    if missing:  # dnf/cli/commands/install.py: every argument is tried, then the command fails
        _dnf_header(ctx)
        for n in missing:
            ctx.print(f"No match for argument: {n}")
        ctx.error(f"Error: Unable to find a match: {' '.join(missing)}")
        return 1
    _dnf_header(ctx)
    new = []
    for n in names:
        have = providing(ctx, n)
        if have:
            ctx.print(f"Package {_nvra(have[0])} is already installed.")
        else:
            new.append(n)
    ctx.print("Dependencies resolved.")
    if not new:
        ctx.print("Nothing to do.")
    else:
        ctx.print("Installed:")
        for n in new:
            ctx.print(f"  {n}")
            install_offer(ctx, n, offered.get(n))
        ctx.print("")
    ctx.print("Complete!")
    return 0


# What the lab's repositories offer besides their appliances: the oVirt packages the lab knows.
LAB_PACKAGES = frozenset({HE_PACKAGE, COLLECTION_PACKAGE, "ovirt-engine", *SETUP_PACKAGES})


def install_offer(ctx, name, entries):
    """Add NAME to the host; an appliance brings its rpm header and its files (kept in the host's state)."""
    if entries is not None:  # an appliance's rpm (1.5 GB and more) takes the site's time to download and install
        ctx.sleep(float(_cfg(ctx)["appliance_install_seconds"]))
    ctx.host.packages.append(name)
    if entries is None:
        return
    _state(ctx).setdefault("rpms", {})[name] = entries["rpm"]
    for spec in entries["files"]:
        ctx.fs.mkdir(spec["path"].rsplit("/", 1)[0], parents=True)
        data = spec["content"] if isinstance(spec["content"], bytes) else spec["content"].encode()
        ctx.fs.write(spec["path"], data, spec["mode"])


def available(ctx):
    """{name: appliance_site_entries(...)} for the appliances the host's repositories offer: the host's
    `available_appliances:` (a list of appliance_site_entries options, engine_version among them), else one
    ovirt-engine-appliance of `ovirt.appliance_engine_version` with an `ovirt.appliance_disk_gb` disk."""
    cfg = _cfg(ctx)
    offers = ctx.host.spec.extra.get("available_appliances")
    if offers is None:
        offers = [{"engine_version": cfg["appliance_engine_version"], "disk_gb": cfg["appliance_disk_gb"]}]
    entries = [appliance_site_entries(**offer) for offer in offers]
    return {e["package"]: e for e in entries}


def repo_failure(ctx):
    """libdnf's error for the first enabled repository that does not answer (`answers: false` in its entry), as
    dnf 4 prints it after `Errors during downloading metadata for repository` (whose lines, the curl errors, depend
    on the failure and are left out); None when all answer."""
    for repo in _repos(ctx):
        if repo.get("answers") is False:
            return (
                f"Failed to download metadata for repo '{repo['id']}': Cannot download repomd.xml: "
                f"Cannot download repodata/repomd.xml: All mirrors were tried"
            )
    return None


def _dnf_list(ctx, names):
    """`dnf list NAME...` (dnf/cli/commands/__init__.py ListCommand): the installed packages that match, then
    the repositories' others; none at all: `Error: No matching Packages to list`, exit 1."""
    if not names or any(n.startswith("-") or n in ("installed", "available", "all") for n in names):
        raise Unsupported(f"{ctx.name} list is implemented as: dnf list [--quiet] NAME...")
    offered = available(ctx)
    installed = [h for h in installed_headers(ctx) if h["name"] in names]
    others = [offered[n] for n in names if n in offered and n not in {h["name"] for h in installed}]
    if not installed and not others:
        ctx.error("Error: No matching Packages to list")
        return 1
    if installed:
        ctx.print("Installed Packages")
        for h in installed:
            ctx.print(f"{h['name']}.{h['arch']:<30} {h['version']}-{h['release']:<20} @{_repos(ctx)[0]['id']}")
    if others:
        ctx.print("Available Packages")
        for e in others:
            rpm = e["rpm"]
            ctx.print(f"{e['package']}.{rpm['arch']:<30} {rpm['version']}-{rpm['release']:<20} {_repos(ctx)[-1]['id']}")
    return 0


def _repos(ctx):
    repos = ctx.host.spec.extra.get("repos")
    return _cfg(ctx)["repos"] if repos is None else repos


def _dnf_repolist(ctx, operands):
    if operands and operands != ["enabled"]:
        raise Unsupported(f"{ctx.name} repolist: arguments not implemented: {' '.join(operands)}")
    repos = _repos(ctx)
    if not repos:
        ctx.error("No repositories available")
        return 0
    width = max(len("repo id"), *(len(r["id"]) for r in repos)) + 1
    ctx.print(f"{'repo id':{width}} repo name")
    for r in repos:
        ctx.print(f"{r['id']:{width}} {r['name']}")
    return 0


def _dnf_module(ctx, operands, assume_yes):
    if not operands:
        ctx.error("Error: No module subcommand given")
        return 1
    sub, specs = operands[0], [o for o in operands[1:] if o not in ("-y", "--assumeyes")]
    assume_yes = assume_yes or len(specs) != len(operands) - 1
    available = _cfg(ctx)["modules"]
    enabled = _state(ctx)["modules"]
    if sub == "list":
        if specs not in ([], ["--enabled"]):
            raise Unsupported("dnf module list is implemented as: dnf module list [--enabled]")
        rows = (
            sorted(enabled.items())
            if specs
            else [(n, str(st)) for n, streams in sorted(available.items()) for st in streams]
        )
        if not rows:
            ctx.error("Error: No matching Modules to list")
            return 1
        _dnf_header(ctx)
        ctx.print(f"{'Name':20}{'Stream':14}{'Profiles':12}Summary")
        for name, stream in rows:
            mark = " [e]" if enabled.get(name) == stream else ""
            ctx.print(f"{name:20}{stream + mark:14}{'common':12}{name}")
        ctx.print("")
        ctx.print("Hint: [d]efault, [e]nabled, [x]disabled, [i]nstalled")
        return 0
    if sub != "enable":
        raise Unsupported(f"dnf module {sub} is not implemented")
    if not specs:
        ctx.error("Error: dnf module enable: too few arguments")
        return 1
    wanted, missing = {}, []
    for spec in specs:
        name, _, stream = spec.partition(":")
        streams = [str(s) for s in available.get(name, [])]
        if not streams or (stream and stream not in streams):
            missing.append(spec)
        else:
            wanted[name] = stream or streams[0]
    _dnf_header(ctx)
    if missing:
        ctx.error("Error: Problems in request:\nmissing groups or modules: " + ", ".join(missing))
        return 1
    conflicts = [n for n, s in wanted.items() if enabled.get(n, s) != s]
    if conflicts:
        name = conflicts[0]
        ctx.error(
            f"The operation would result in switching of module '{name}' stream '{enabled[name]}' "
            f"to stream '{wanted[name]}'\nError: It is not possible to switch enabled streams of a module "
            "unless explicitly enabled via configuration option module_stream_switch."
        )
        return 1
    ctx.print("Dependencies resolved.")
    todo = {n: s for n, s in wanted.items() if n not in enabled}
    if not todo:
        ctx.print("Nothing to do.")
        ctx.print("Complete!")
        return 0
    ctx.print("=" * 80)
    ctx.print(f" {'Package':18}{'Architecture':17}{'Version':21}{'Repository':18}Size")
    ctx.print("=" * 80)
    ctx.print("Enabling module streams:")
    for name, stream in todo.items():
        ctx.print(f" {name:36}{stream}")
    ctx.print("")
    ctx.print("Transaction Summary")
    ctx.print("=" * 80)
    ctx.print("")
    if not assume_yes:
        ctx.print("Is this ok [y/N]: Operation aborted.")
        return 1
    enabled.update(todo)
    ctx.print("Complete!")
    return 0


@command("nodectl")
def nodectl(ctx):
    if not ctx.host.spec.extra.get("ovirt_node"):
        return _not_found(ctx)
    if ctx.args != ["check"]:
        raise Unsupported("nodectl is implemented as: nodectl check")
    vdsm = ctx.host.services.get("vdsmd", {}).get("active", False)
    checks = [
        ("Bootloader", ["Layer boot entries", "Valid boot entries"]),
        ("Mount points", ["Separate /var", "Discard is used"]),
        ("Basic storage", ["Initialized VG", "Initialized Thin Pool", "Initialized LVs"]),
        ("Thin storage", ["Checking available space in thinpool", "Checking thinpool auto-extend"]),
    ]
    # ovirt-node-ng src/nodectl: the colours are printed whatever stdout is; a bad vdsmd makes it WARN
    state = "\x1b[32mOK\x1b[0m" if vdsm else "\x1b[33mWARN\x1b[0m"
    ctx.print(f"\x1b[1mStatus: {state}\x1b[0m")
    for name, subs in checks:
        ctx.print(f"{name} ... OK")
        for sub in subs:
            ctx.print(f"  {sub} ... OK")
    ctx.print(f"vdsmd ... {'OK' if vdsm else 'BAD'}")
    return 0  # nodectl check exits 0 healthy or not: Application.check() only prints
