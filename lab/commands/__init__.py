"""Registry of the commands a lab host understands."""

COMMANDS = {}


def command(*aliases):
    """Register a function as the implementation of one or more command names."""

    def register(func):
        for name in aliases:
            COMMANDS[name] = func
        return func

    return register


# Importing the modules registers their commands.
from lab.commands import (  # noqa: E402,F401
    accounts,
    builtin,
    engine_backup,
    engine_setup,
    files,
    hosted_engine,
    hosted_engine_cleanup,
    hostfacts,
    images,
    libvirt,
    names,
    nfs,
    packages,
    procs,
    services,
    storage,
)
