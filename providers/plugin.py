"""The process the Pulumi CLI starts to serve this project's dynamic resources.

The Python SDK serves dynamic resources from a gRPC server with four worker threads, so no more
than four exports, overrides or reads run at once, whatever `pulumi up --parallel` allows. This
runs the SDK's own server with as many workers as the engine may ask for at once; Pulumi.yaml
points the CLI here (tools/provider-plugin). It also exits when the CLI that started it is gone, and
connects to the engine the CLI names, so that providers' progress shows under its resource
(providers/progress.py).
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
from concurrent import futures

import grpc

from providers import progress

# More than the engine's default parallelism (8); idle workers cost nothing, as threads start on demand.
WORKERS = 64


def _with_workers(make_server):
    def server(thread_pool, *args, **kwargs):
        thread_pool.shutdown(wait=False)
        return make_server(
            futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="provider"), *args, **kwargs
        )

    return server


def _leave_with_the_cli(interval: float = 1.0) -> None:
    """A `pulumi` that was killed leaves its plugins running, and this one could go on changing hosts
    beside the next run; it exits once the CLI that started it is gone."""
    cli = os.getppid()

    def watch():
        while os.getppid() == cli:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="cli-watch", daemon=True).start()


OPERATIONS = ("Check", "Diff", "Create", "Read", "Update", "Delete")


def _operations_know_their_resource() -> None:
    """Each operation of the SDK's servicer first tells progress which resource it is for (its request's URN):
    the servicer's methods are wrapped as the server registers it."""
    from pulumi.runtime.proto import provider_pb2_grpc

    register = provider_pb2_grpc.add_ResourceProviderServicer_to_server

    def noting(method):
        def operation(request, context):
            progress.for_resource(getattr(request, "urn", ""))
            return method(request, context)

        return operation

    def add(servicer, server):
        for name in OPERATIONS:
            setattr(servicer, name, noting(getattr(servicer, name)))
        return register(servicer, server)

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = add


def engine_address(argv: list[str]) -> str | None:
    """The engine's gRPC address: the CLI passes it as the plugin's one positional argument, after its flags."""
    positional = [a for a in argv if not a.startswith("-")]
    return positional[-1] if positional else None


if __name__ == "__main__":
    _leave_with_the_cli()
    if engine_address(sys.argv[1:]):
        progress.connect(engine_address(sys.argv[1:]))
    _operations_know_their_resource()
    grpc.server = _with_workers(grpc.server)
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)
