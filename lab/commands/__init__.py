"""Registry of the commands a lab host understands."""
COMMANDS = {}


def command(*names):
    """Register a function as the implementation of one or more command names."""
    def register(func):
        for name in names:
            COMMANDS[name] = func
        return func
    return register


# Importing the modules registers their commands.
from lab.commands import accounts, builtin, files, nfs, services  # noqa: E402,F401
from lab.commands import engine_backup, engine_setup, hosted_engine, names, packages  # noqa: E402,F401
from lab.commands import hostfacts, images, procs, storage  # noqa: E402,F401
