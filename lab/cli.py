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
    for name, text in (("serve", "run the lab in the foreground"),
                       ("start", "run the lab in the background")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--state", required=True, help="state folder")
        p.add_argument("--site", default=str(DEFAULT_SITE), help="site YAML file")
        p.add_argument("--random-ports", action="store_true",
                       help="let the OS pick free ports instead of the site's ssh_port")
        p.add_argument("--authorized-key", action="append", default=[], metavar="PUBFILE",
                       help="public key file allowed to log in as root (repeatable)")
    for name, text in (("stop", "stop a running lab"), ("status", "show the running lab")):
        sub.add_parser(name, help=text).add_argument("--state", required=True)
    return parser


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
        lines.append(f"  {name:8} {h['role']:16} {h['fqdn']:24} "
                     f"ssh -p {h['port']} -o UserKnownHostsFile={known_hosts} "
                     f"-o StrictHostKeyChecking=yes root@{h['address']}")
    for key, label in (("engine_api", "engine API"), ("engine_api_new", "new engine API")):
        if key in info:
            lines.append(f"  {label}: {info[key]['url']} (ca_file {info[key]['ca_file']})")
    return "\n".join(lines)


def _serve_argv(args):
    argv = [sys.executable, "-m", "lab", "serve", "--state", str(Path(args.state).resolve()),
            "--site", str(Path(args.site).resolve())]
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
        proc = subprocess.Popen(_serve_argv(args), cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=logfile, stderr=logfile, start_new_session=True)
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
    return {"start": start, "stop": stop, "status": status}[args.action](args)
