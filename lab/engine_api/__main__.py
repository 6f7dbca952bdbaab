"""Run the simulated engine standalone: python -m lab.engine_api --state DIR [--model FILE] [--port N]."""

import argparse
import signal
import threading

from .server import DEFAULT_MODEL, EngineApi, load_model


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.engine_api", description=__doc__)
    parser.add_argument("--state", required=True, help="state directory (CA, certificates, state.json)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="YAML site model, used when DIR has no state yet")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 picks a free one)")
    args = parser.parse_args(argv)
    engine = EngineApi(args.state, load_model(args.model), port=args.port).start()
    print("url: %s" % engine.url, flush=True)
    print("ca_file: %s" % engine.ca_file, flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    engine.stop()


if __name__ == "__main__":
    main()
