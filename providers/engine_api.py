"""Engine REST API plumbing shared by the providers that act through an oVirt Engine.

One ovirtsdk4 connection per Engine per provider process, TLS verified against the site's CA
(never `insecure`), and waits that are bounded in time and say what they were waiting for.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ovirtsdk4
import ovirtsdk4.types as types


class EngineWaitTimeout(Exception):
    """The Engine did not reach the wanted state in time."""


@dataclass(frozen=True)
class Engine:
    """Where an Engine's API is and whom to log in as; plain data for resource properties."""

    url: str
    username: str
    ca_pem: str

    @classmethod
    def from_props(cls, props: dict) -> "Engine":
        return cls(props["url"], props["username"], props["caPem"])

    def to_props(self) -> dict:
        return {"url": self.url, "username": self.username, "caPem": self.ca_pem}


def _ca_file(ca_pem: str) -> str:
    """pycurl reads the CA from a file; the certificate is public, so a shared temp file is fine."""
    path = Path(tempfile.gettempdir()) / f"ovirt-she-ca-{hashlib.sha256(ca_pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        path.write_text(ca_pem)
    return str(path)


_pool: dict[tuple, ovirtsdk4.Connection] = {}
_pool_lock = threading.Lock()


def connect(engine: Engine, password: str, timeout: int = 60) -> ovirtsdk4.Connection:
    key = (engine, hashlib.sha256(password.encode()).hexdigest())
    with _pool_lock:
        connection = _pool.get(key)
        if connection is None:
            connection = ovirtsdk4.Connection(
                url=engine.url, username=engine.username, password=password,
                ca_file=_ca_file(engine.ca_pem), timeout=timeout,
            )
            _pool[key] = connection
        return connection


def find_host(connection: ovirtsdk4.Connection, name: str, all_content: bool = False) -> types.Host | None:
    hosts_service = connection.system_service().hosts_service()
    found = [h for h in hosts_service.list(search=f"name={name}", all_content=all_content) if h.name == name]
    return found[0] if found else None


def host_service(connection: ovirtsdk4.Connection, host: types.Host):
    return connection.system_service().hosts_service().host_service(host.id)


def wait_for(fetch, done, what: str, timeout: float, interval: float = 1.0):
    """Polls fetch() until done(value) holds; returns that value or raises saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise EngineWaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
