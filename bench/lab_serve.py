"""`lab serve` with command delays for benchmarks, without changing lab/.

    python -m bench.lab_serve --delays JSON -- serve --state DIR --site FILE ...

`--delays '{"exportfs -r": 0.5, "systemctl reload multipathd": 0.5}'` makes the matching commands
take that long (matched on the command name and its arguments' prefix), so that the preparation
steps have a known duration, as `ovirt.deploy_seconds` gives the deployment one. The lab itself
logs every accepted SSH connection in STATE/connections.jsonl.
"""

import argparse
import json
import sys
import time


def _delay_commands(delays):
    from lab.commands import COMMANDS

    by_name = {}
    for key, seconds in delays.items():
        name, *args = key.split()
        by_name.setdefault(name, []).append((args, float(seconds)))
    for name, rules in by_name.items():
        original = COMMANDS[name]

        def delayed(ctx, original=original, rules=rules):
            for args, seconds in rules:
                if list(ctx.args[: len(args)]) == args:
                    time.sleep(seconds)
                    break
            return original(ctx)

        COMMANDS[name] = delayed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.lab_serve")
    parser.add_argument("--delays", default="{}")
    parser.add_argument("lab_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    _delay_commands(json.loads(args.delays))
    from lab.cli import main as lab_main

    lab_args = args.lab_args[1:] if args.lab_args[:1] == ["--"] else args.lab_args
    return lab_main(lab_args)


if __name__ == "__main__":
    sys.exit(main())
