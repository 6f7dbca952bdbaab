"""Progress shown under the resource it belongs to.

The SDK's dynamic-provider server has no connection to the engine's log service (pulumi/pulumi#6065), so
what a provider prints on standard error shows as lines of the Stack. The project's own plugin
(providers/plugin.py) connects to the engine whose address the CLI gives it, and notes which resource each
operation is for; `say` then logs through the engine with that resource's URN, so `pulumi up` shows the
deploy's output under `hosted-engine` and a node's under that node. Outside the plugin (a provider driven
directly) it prints to standard error as before.
"""

from __future__ import annotations

import sys
import threading

_engine = None  # the engine's Log service, set by the plugin
_operation = threading.local()


def connect(address: str) -> None:
    """Called by the plugin with the engine's address from its command line."""
    global _engine
    import grpc
    from pulumi.runtime.proto import engine_pb2_grpc

    _engine = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))


def for_resource(urn: str):
    """The plugin's worker runs one operation of the resource URN until the next call."""
    _operation.urn = urn or None


def say(message: str, ephemeral: bool = False) -> None:
    """Shows MESSAGE under the current operation's resource (EPHEMERAL: only while it runs)."""
    urn = getattr(_operation, "urn", None)
    if _engine is not None and urn:
        from pulumi.runtime.proto import engine_pb2

        try:
            _engine.Log(engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message, urn=urn, ephemeral=ephemeral))
            return
        except Exception:  # the engine is going away: the line still goes somewhere
            pass
    print(message, file=sys.stderr, flush=True)
