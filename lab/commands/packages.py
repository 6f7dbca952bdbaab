"""What is installed: yum/dnf (update, install, repolist, module), rpm -q and nodectl check."""
import fnmatch
import re
import time

from lab.commands import command
from lab.commands.ovirt import ENGINE_PACKAGE, HE_PACKAGE, SETUP_PACKAGES, _cfg, _lab, _not_found, _state
from lab.transport.shell import Unsupported


def he_installed(host):
    """ovirt-hosted-engine-setup is installed: listed, or pulled in by ovirt-host on a vdsm host
    (ovirt-host.spec: `Requires: ovirt-hosted-engine-setup` on x86_64)."""
    return HE_PACKAGE in host.packages or "vdsm" in host.packages


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
    rest = [a for a in args if a not in ("-y", "--assumeyes")]
    assume_yes = assume_yes or len(rest) != len(args)
    if not rest:
        ctx.error(f"{ctx.name}: error: the following arguments are required: command")
        return 1
    verb, operands = rest[0], rest[1:]
    if verb in ("update", "upgrade"):
        return _dnf_update(ctx, operands)
    if verb == "install":
        return _dnf_install(ctx, operands)
    if verb == "repolist":
        return _dnf_repolist(ctx, operands)
    if verb == "module":
        return _dnf_module(ctx, operands, assume_yes)
    raise Unsupported(f"{ctx.name}: command not implemented: {verb}")


@command("rpm")
def rpm(ctx):
    """`rpm -q NAME...`: NAME-VERSION-RELEASE per installed package, and an exit status counting the missing."""
    if not ctx.args or ctx.args[0] not in ("-q", "--query"):
        raise Unsupported("rpm is implemented as: rpm -q NAME...")
    installed = _installed_names(ctx) | ({HE_PACKAGE} if he_installed(ctx.host) else set())
    missing = 0
    for name in ctx.args[1:]:
        if name in installed:
            ctx.print(_package_nvr(ctx, name))
        else:
            ctx.print(f"package {name} is not installed")
            missing += 1
    return min(missing, 255)


def _package_nvr(ctx, name):
    """NAME-VERSION-RELEASE.ARCH: the appliance rpm (up to 4.5.5) is versioned by X.Y and a build date
    (ovirt-appliance `engine-appliance/data/ovirt-engine-appliance.spec.in`), the rest by the Engine's."""
    if name == "ovirt-engine-appliance":
        major_minor = ".".join(re.findall(r"\d+", str(_cfg(ctx)["appliance_engine_version"]))[:2])
        return f"ovirt-engine-appliance-{major_minor}-20240101000000.1.el8.x86_64"
    return f"{name}-{_lab(ctx).engines.original.site.engine['version']}-1.el8.noarch"


def _installed_names(ctx):
    names = set(ctx.host.packages)
    if ENGINE_PACKAGE in names:
        names.update(SETUP_PACKAGES)
    return names


def _dnf_update(ctx, patterns):
    state, installed = _state(ctx), _installed_names(ctx)
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
    new = [n for n in names if n not in ctx.host.packages]
    _dnf_header(ctx)
    for n in names:
        if n not in new:
            ctx.print(f"Package {n} is already installed.")
    ctx.print("Dependencies resolved.")
    if not new:
        ctx.print("Nothing to do.")
    else:
        ctx.print("Installed:")
        for n in new:
            ctx.print(f"  {n}")
            ctx.host.packages.append(n)
        ctx.print("")
    ctx.print("Complete!")
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
        rows = sorted(enabled.items()) if specs else [(n, str(st)) for n, streams in sorted(available.items())
                                                     for st in streams]
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
        ctx.error(f"The operation would result in switching of module '{name}' stream '{enabled[name]}' "
                  f"to stream '{wanted[name]}'\nError: It is not possible to switch enabled streams of a module "
                  "unless explicitly enabled via configuration option module_stream_switch.")
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
    checks = [("Bootloader", ["Layer boot entries", "Valid boot entries"]),
              ("Mount points", ["Separate /var", "Discard is used"]),
              ("Basic storage", ["Initialized VG", "Initialized Thin Pool", "Initialized LVs"]),
              ("Thin storage", ["Checking available space in thinpool", "Checking thinpool auto-extend"])]
    # ovirt-node-ng src/nodectl: the colours are printed whatever stdout is; a bad vdsmd makes it WARN
    state = "\x1b[32mOK\x1b[0m" if vdsm else "\x1b[33mWARN\x1b[0m"
    ctx.print(f"\x1b[1mStatus: {state}\x1b[0m")
    for name, subs in checks:
        ctx.print(f"{name} ... OK")
        for sub in subs:
            ctx.print(f"  {sub} ... OK")
    ctx.print(f"vdsmd ... {'OK' if vdsm else 'BAD'}")
    return 0  # nodectl check exits 0 healthy or not: Application.check() only prints
