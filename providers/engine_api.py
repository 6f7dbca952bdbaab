"""Engine REST API plumbing shared by the providers that act through an oVirt Engine.

One ovirtsdk4 connection per Engine per provider process, TLS verified against the site's CA
(never `insecure`), and waits that are bounded in time and say what they were waiting for.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import ovirtsdk4
import ovirtsdk4.types as types

from providers.errors import StepError
from providers.progress import say
from providers.retry import RetryPolicy


class EngineWaitTimeout(StepError):
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


# Transient Engine failures (5xx answers, timeouts, refused connections) are retried with the transports' one
# policy for GETs only: an action (POST) is never sent twice. OVIRT_SHE_ENGINE_ATTEMPTS (4 tries),
# OVIRT_SHE_ENGINE_FIRST_DELAY (0.5 s, doubling) and OVIRT_SHE_ENGINE_API_TIMEOUT (60 s per request, the
# SDK's `timeout`) change the defaults. There is no overall limit: each try is bounded by that timeout.
RETRY = RetryPolicy.from_env("OVIRT_SHE_ENGINE_", RetryPolicy(attempts=4, total_seconds=math.inf))
REQUEST_TIMEOUT = int(os.environ.get("OVIRT_SHE_ENGINE_API_TIMEOUT") or 60)


def is_transient(err: BaseException) -> bool:
    """A failure that may pass: a 5xx answer, a timeout, no connection; never a refusal or a missing entity."""
    if not isinstance(err, ovirtsdk4.Error) or isinstance(err, (ovirtsdk4.AuthError, ovirtsdk4.NotFoundError)):
        return False
    return err.code is None or err.code >= 500


class _RetryingConnection(ovirtsdk4.Connection):
    """An SDK connection whose GET requests are sent again after a 5xx answer or a transport error."""

    def wait(self, context, failed_auth=False):
        request = context[3]
        if request.method != "GET":
            return super().wait(context, failed_auth)
        pauses, attempt = RETRY.pauses(), 1
        while True:
            try:
                response = super().wait(context, failed_auth)
                if response.code < 500:
                    return response
                reason = f"HTTP {response.code}"
                code = response.code
            except ovirtsdk4.Error as err:
                if not is_transient(err):
                    raise
                reason, code = str(err), None
                self._forget(context)
            pause = next(pauses, None)
            if pause is None:
                raise ovirtsdk4.Error(
                    f"the Engine API at {self.url} did not answer GET {request.path} after {attempt} attempts "
                    f"(last: {reason}). Check that the Engine is up (`systemctl status ovirt-engine` on its "
                    f"machine, or `hosted-engine --vm-status` for a self-hosted one), then run `pulumi up` again.",
                    code=code,
                )
            time.sleep(pause)
            attempt += 1
            context = self.send(request)

    def _forget(self, context):
        """Take a failed transfer out of the SDK's curl multi handle so the next one starts clean."""
        try:
            self._multi.remove_handle(context[0])
        except Exception:  # already removed
            pass
        self._curls.discard(context[0])


_pool: dict[tuple, ovirtsdk4.Connection] = {}
_pool_lock = threading.Lock()


def connect(engine: Engine, password: str, timeout: int | None = None) -> ovirtsdk4.Connection:
    key = (engine, hashlib.sha256(password.encode()).hexdigest())
    with _pool_lock:
        connection = _pool.get(key)
        if connection is None:
            connection = _RetryingConnection(
                url=engine.url,
                username=engine.username,
                password=password,
                ca_file=_ca_file(engine.ca_pem),
                timeout=timeout or REQUEST_TIMEOUT,
            )
            _pool[key] = connection
        return connection


def find_host(connection: ovirtsdk4.Connection, name: str, all_content: bool = False) -> types.Host | None:
    hosts_service = connection.system_service().hosts_service()
    found = [h for h in hosts_service.list(search=f"name={name}", all_content=all_content) if h.name == name]
    return found[0] if found else None


# AuditLogType: what InstallVdsInternalCommand logs as it ends, under the install call's correlation id.
VDS_INSTALL, VDS_INSTALL_FAILED = 504, 505


def correlation_id() -> str:
    """A Correlation-Id for one call: the Engine keeps [0-9a-zA-Z_-], at most 36 (restapi CurrentFilter), and tags
    with it every event of the commands the call runs, those of its thread pool included."""
    return "she-" + uuid.uuid4().hex


def install_end(connection: ovirtsdk4.Connection, correlation: str) -> int | None:
    """VDS_INSTALL or VDS_INSTALL_FAILED once the install tagged CORRELATION has ended, else None."""
    events = connection.system_service().events_service().list(search=f"correlation_id={correlation}")
    return next((e.code for e in events if e.code in (VDS_INSTALL, VDS_INSTALL_FAILED)), None)


def host_service(connection: ovirtsdk4.Connection, host: types.Host):
    return connection.system_service().hosts_service().host_service(host.id)


# The VM origins of an Engine VM (ovirt-engine VM.isHostedEngine()): maintenance never refuses for it.
_HOSTED_ENGINE_ORIGINS = {"hosted_engine", "managed_hosted_engine"}


def pinned_vms(connection: ovirtsdk4.Connection, host: types.Host) -> list[str]:
    """Names of the VMs running on the host that cannot migrate off it when an administrator asks for maintenance:
    placement_policy affinity `pinned` (ovirt-engine MaintenanceNumberOfVdssCommand: MigrationSupport.PINNED_TO_HOST;
    `user_migratable` only blocks the Engine's own maintenance), the Engine VM excepted."""
    vms = connection.system_service().vms_service().list(search=f"host={host.name}")
    return [
        vm.name
        for vm in vms
        if vm.host is not None
        and vm.host.id == host.id
        and vm.origin not in _HOSTED_ENGINE_ORIGINS
        and vm.placement_policy is not None
        and vm.placement_policy.affinity == types.VmAffinity.PINNED
    ]


def non_migratable_vms_named(detail: str) -> list[str]:
    """The VM names in the Engine's VDS_CANNOT_MAINTENANCE_IT_INCLUDES_NON_MIGRATABLE_VM text (AppErrors.properties:
    `... The non-migratable VMs are: ${VmsList}.`, the list joined with " , "); [] for any other text."""
    marker = "The non-migratable VMs are: "
    if marker not in detail:
        return []
    names = detail.split(marker, 1)[1].split(".]")[0].removesuffix(".")
    return [name.strip() for name in names.split(",") if name.strip()]


WAIT_NOTICE = 30.0  # seconds between a long wait's notices


def wait_for(fetch, done, what: str, timeout: float, interval: float = 1.0):
    """Polls fetch() until done(value) holds; returns that value or raises saying what never happened.

    A transient Engine failure while polling (5xx, timeout) is polled through until the deadline. A wait
    that lasts says under its resource what it waits for and since when, every WAIT_NOTICE seconds."""
    started, since = time.monotonic(), time.strftime("%H:%M:%S", time.localtime())
    deadline, notice = started + timeout, started + WAIT_NOTICE
    while True:
        try:
            value = fetch()
        except ovirtsdk4.Error as err:
            if not is_transient(err) or time.monotonic() >= deadline:
                raise
        else:
            if done(value):
                return value
        now = time.monotonic()
        if now >= deadline:
            raise EngineWaitTimeout(
                "the Engine",
                f"timed out after {timeout:.0f}s waiting for {what}",
                "The Engine may still get there: see its events, then run `pulumi up` again, which goes on from "
                "where the site is.",
            )
        if now >= notice:
            say(f"waiting for {what} since {since} ({now - started:.0f}s of {timeout:.0f}s)", ephemeral=True)
            notice = now + WAIT_NOTICE
        time.sleep(interval)
