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
from lab.commands import ovirt  # noqa: E402,F401  (after accounts: it extends getent)
from lab.commands import hostfacts  # noqa: E402,F401  (after files/ovirt: it extends cat and rpm)
from lab.commands import procs  # noqa: E402,F401
from lab.commands import storage  # noqa: E402,F401  (after hostfacts: it extends cat)
