"""Command line: lab serve | start | stop | status."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.site import DEFAULT_SITE

REPO_ROOT = Path(__file__).resolve().parent.parent


def _parser():
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    for name, text in (("serve", "run the lab in the foreground"), ("start", "run the lab in the background")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--state", required=True, help="state folder")
        p.add_argument("--site", default=str(DEFAULT_SITE), help="site YAML file")
        p.add_argument(
            "--random-ports", action="store_true", help="let the OS pick free ports instead of the site's ssh_port"
        )
        p.add_argument(
            "--authorized-key",
            action="append",
            default=[],
            metavar="PUBFILE",
            help="public key file allowed to log in as root (repeatable)",
        )
    for name, text in (("stop", "stop a running lab"), ("status", "show the running lab")):
        sub.add_parser(name, help=text).add_argument("--state", required=True)
    p = sub.add_parser("fault", help="inject a fault into a lab (see lab/faults.py)")
    p.add_argument("--state", required=True)
    p.add_argument(
        "what",
        choices=[
            "command",
            "refuse",
            "drop",
            "slow",
            "engine-api",
            "host-key",
            "deploy-task",
            "power-on",
            "clear",
            "list",
        ],
    )
    p.add_argument("--host")
    p.add_argument("--match", help="regular expression searched in the command line")
    p.add_argument("--status", type=int, help="exit status (command) or HTTP status (engine-api)")
    p.add_argument("--stderr")
    p.add_argument("--stdout")
    p.add_argument("--times", help="a count, or `always`")
    p.add_argument("--seconds", type=float, help="refuse: for how long; slow: delay per command")
    p.add_argument("--after-bytes", type=int)
    p.add_argument("--after-seconds", type=float)
    p.add_argument("--hang", type=float, help="engine-api: stall each request this long")
    p.add_argument("--api", choices=["original", "new"])
    p.add_argument("--task", help="deploy-task: the role's task that fails, as the deploy prints it")
    p.add_argument("--msg", help="deploy-task: the failed task's message")
    p = sub.add_parser("critical-path", help="the site's long steps one after another, in seconds")
    p.add_argument("--site", default=str(DEFAULT_SITE))
    return parser


def fault(args):
    from lab import faults

    if args.what == "list":
        path = Path(args.state) / "commands.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        for entry in map(json.loads, filter(None, lines)):
            if entry.get("kind") == "fault":
                print(
                    f"{entry['time']:.3f} {entry['host']} {entry['fault']}: {entry['command']} {entry.get('detail') or ''}".rstrip()
                )
        return 0
    running = running_info(args.state) is not None
    if args.what == "clear":
        token = faults.clear_rules(args.state)
        ok = not running or faults.wait_applied(args.state, clear=token)
        print("faults cleared" if ok else "faults cleared in the file; the lab has not taken it yet")
        return 0 if ok else 1
    rule = {k: v for k, v in vars(args).items() if k not in ("state", "what", "action") and v is not None}
    rule["kind"] = args.what
    try:
        rule_id = faults.add_rule(args.state, rule)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not running:
        print(f"fault {rule_id} recorded; the lab is not running, it applies at the next start")
        return 0
    if faults.wait_applied(args.state, rule_id):
        print(f"fault {rule_id} active")
        return 0
    print(
        f"fault {rule_id} written, but the lab has not taken it (see {Path(args.state) / 'lab.log'})", file=sys.stderr
    )
    return 1


def critical_path(args):
    from lab.faults import critical_path as steps_of

    steps = steps_of(args.site)
    for name, seconds in steps:
        print(f"{seconds:8.1f}  {name}")
    print(f"{sum(s for _, s in steps):8.1f}  total")
    return 0


def pid_alive(pid):
    """True when the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def running_info(state):
    """lab.json of a live lab in this state folder, else None."""
    path = Path(state) / "lab.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if pid_alive(info["pid"]) else None


def describe(state, info):
    known_hosts = Path(state).resolve() / "known_hosts"
    lines = [f"lab running (pid {info['pid']}), site {info['site']}"]
    for name, h in info["hosts"].items():
        lines.append(
            f"  {name:8} {h['role']:16} {h['fqdn']:24} "
            f"ssh -p {h['port']} -o UserKnownHostsFile={known_hosts} "
            f"-o StrictHostKeyChecking=yes root@{h['address']}"
        )
    for key, label in (("engine_api", "engine API"), ("engine_api_new", "new engine API")):
        if key in info:
            lines.append(f"  {label}: {info[key]['url']} (ca_file {info[key]['ca_file']})")
    return "\n".join(lines)


def _serve_argv(args):
    argv = [
        sys.executable,
        "-m",
        "lab",
        "serve",
        "--state",
        str(Path(args.state).resolve()),
        "--site",
        str(Path(args.site).resolve()),
    ]
    if args.random_ports:
        argv.append("--random-ports")
    for key in args.authorized_key:
        argv += ["--authorized-key", str(Path(key).resolve())]
    return argv


def start(args, timeout=30):
    info = running_info(args.state)
    if info:
        print("lab already running")
        print(describe(args.state, info))
        return 0
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    (state / "lab.json").unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    with open(state / "lab.log", "ab") as logfile:
        proc = subprocess.Popen(
            _serve_argv(args),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=logfile,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = running_info(state)
        if info and info["pid"] == proc.pid:
            print(describe(state, info))
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = (state / "lab.log").read_text(errors="replace").splitlines()[-3:]
    print("\n".join([f"lab did not start; see {state / 'lab.log'}:", *tail]), file=sys.stderr)
    if proc.poll() is None:
        proc.terminate()
    return 1


def stop(args, timeout=20):
    info = running_info(args.state)
    if not info:
        print("lab not running")
        return 0
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(info["pid"]):
            print("lab stopped")
            return 0
        time.sleep(0.1)
    print(f"lab (pid {info['pid']}) did not stop within {timeout}s", file=sys.stderr)
    return 1


def status(args):
    info = running_info(args.state)
    if not info:
        print("lab not running")
        return 3
    print(describe(args.state, info))
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.action == "serve":
        from lab.server import serve

        return serve(args.state, args.site, args.random_ports, args.authorized_key)
    return {"start": start, "stop": stop, "status": status, "fault": fault, "critical-path": critical_path}[
        args.action
    ](args)
