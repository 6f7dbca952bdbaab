"""HTTPS front end: SSO, the REST API and an Apache-like 503 while the engine is down."""

import base64
import json
import os
import secrets
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import ovirtsdk4.types as types
import yaml

from . import render, routes, tls, upstream, wire
from .state import ActionFailed, Site, entity_id

API = render.API_PREFIX
SSO_TOKEN = "/ovirt-engine/sso/oauth/token"
SSO_LOGOUT = "/ovirt-engine/services/sso-logout"
PKI_RESOURCE = "/ovirt-engine/services/pki-resource"
DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "default_model.yaml")
# What Apache's mod_proxy answers when the ovirt-engine service behind it is stopped.
APACHE_503 = (
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
    b"<title>503 Service Unavailable</title>\n</head><body>\n<h1>Service Unavailable</h1>\n"
    b"<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or "
    b"capacity\nproblems. Please try again later.</p>\n</body></html>\n"
)


def load_model(path=DEFAULT_MODEL):
    with open(path) as f:
        return yaml.safe_load(f)


class EngineApi:
    """A simulated oVirt Engine that the unmodified ovirtsdk4 can talk to over verified TLS."""

    def __init__(
        self,
        state_dir,
        model=None,
        port=0,
        is_up=lambda: True,
        delays=None,
        host="127.0.0.1",
        monitor=None,
        reachable=lambda: True,
    ):
        """`is_up`: whether the Engine runs (else Apache's 503); `reachable`: whether its machine answers at all."""
        os.makedirs(state_dir, exist_ok=True)
        self.state_dir, self.host, self.port, self.is_up, self.reachable = state_dir, host, port, is_up, reachable
        self.site = Site(state_dir, model if model is not None else load_model(), delays, monitor=monitor)
        self.tokens = {}  # SSO access token -> the user id it was issued to
        self._injections = []  # pending ('fail', status) / ('hang', seconds), consumed one per API request
        self._lock = threading.Lock()
        self._server = self._thread = None
        self._was_up = False

    @property
    def url(self):
        return "https://%s:%d%s" % (self.host, self.port, API)

    @property
    def ca_file(self):
        return os.path.join(self.state_dir, tls.CA_CERT)

    def start(self):
        ca_file, cert, key = tls.ensure_certificates(self.state_dir, self.site.engine["fqdn"])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = _Server((self.host, self.port), _Handler, self, context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="engine-api", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def answering(self):
        """Whether the Engine runs; the first answer after it did not is its start (Backend.initialize's
        startedAt, from which DisableFenceAtStartupInSec counts: lab/engine_api/fencing.py)."""
        up = bool(self.is_up())
        if up and not self._was_up:
            self.site.started_at = time.time()
        self._was_up = up
        return up

    def login(self, user, password):
        """The user id for the Engine admin's credentials (SSO's password grant, or Basic), else None."""
        engine = self.site.engine
        if user != engine["admin_user"] or password != engine["admin_password"]:
            return None
        ident = entity_id("users", user)
        self.site.logged_in.add(ident)
        return ident

    def logout(self, token):
        """SSO logout: the token ends, and the user's session with the last of its tokens."""
        user = self.tokens.pop(token, None)
        if user is not None and user not in self.tokens.values():
            self.site.logged_in.discard(user)

    def fail_next(self, count=1, status=503):
        """Make the next `count` API requests answer HTTP `status`."""
        with self._lock:
            self._injections.extend([("fail", status)] * count)

    def hang_next(self, seconds, count=1):
        """Make the next `count` API requests wait `seconds` before being answered."""
        with self._lock:
            self._injections.extend([("hang", seconds)] * count)

    def take_injection(self):
        with self._lock:
            return self._injections.pop(0) if self._injections else None


class _Server(ThreadingHTTPServer):
    """Does the TLS handshake in the request thread so a stalled client can't block accept()."""

    daemon_threads = True

    def __init__(self, address, handler, engine, context):
        self.engine, self.context, self.connections = engine, context, set()
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # A real Engine's web server sends headers and body without waiting on the client's delayed
        # ACK; http.server writes them separately, which Nagle would hold back 40 ms.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.engine.reachable():  # its machine is off: nothing answers, not even Apache
            request.close()
            return
        try:
            conn = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.connections.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            self.connections.discard(conn)
            conn.close()

    def close_connections(self):
        """Drop keep-alive connections so a stopped simulator really stops answering."""
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        """Quiet: tests and the CLI don't want a line per request."""

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_GET

    @property
    def engine(self):
        return self.server.engine

    def _send(self, status, body, content_type):
        self.send_response(status)
        for name, value in getattr(self, "extra_headers", {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_doc(self, status, obj, root=None, decorate=True):
        """XML, or JSON when the client accepts only JSON (restapi serves both: JAX-RS content negotiation)."""
        doc = wire.Document(obj, root=root, base=self._base, decorate=decorate)
        if self._wants_json():
            return self._send(status, doc.json(), "application/json")
        self._send(status, doc.xml(), "application/xml;charset=UTF-8")

    def _wants_json(self):
        accept = self.headers.get("Accept", "")
        return "json" in accept and "xml" not in accept

    def _send_json(self, status, data):
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        self.extra_headers, self._base = {}, API
        if not self.engine.answering():
            self._send(503, APACHE_503, "text/html; charset=iso-8859-1")
        elif url.path == SSO_TOKEN:
            self._sso_token(parse_qs(body.decode("utf-8")))
        elif url.path == SSO_LOGOUT:
            self.engine.logout(parse_qs(body.decode("utf-8")).get("token", [None])[0])
            self._send_json(200, {})
        elif url.path == PKI_RESOURCE:
            with open(self.engine.ca_file, "rb") as f:
                self._send(200, f.read(), "application/x-x509-ca-cert")
        elif url.path == API or url.path.startswith(API + "/"):
            self._api(url, body)
        else:
            self._send(404, b"Not Found\n", "text/plain")

    def _sso_token(self, form):
        """Password grant as ovirt-engine's SSO answers it (JSON, error_code/error on failure)."""
        user, password = form.get("username", [""])[0], form.get("password", [""])[0]
        grant = form.get("grant_type", [""])[0] == "password"
        ident = self.engine.login(user, password) if grant else None
        if not grant:
            self._send_json(
                400, {"error_code": "unsupported_grant_type", "error": "The authorization grant type is not supported."}
            )
        elif ident is None:
            self._send_json(
                400,
                {
                    "error_code": "access_denied",
                    "error": "Cannot authenticate user '%s': The username or password is incorrect.." % user,
                },
            )
        else:
            token = secrets.token_urlsafe(48)
            self.engine.tokens[token] = ident
            self._send_json(
                200,
                {
                    "access_token": token,
                    "scope": "ovirt-app-api ovirt-ext=token-info:validate",
                    "exp": str(int((time.time() + 36000) * 1000)),
                    "token_type": "bearer",
                },
            )

    def _api(self, url, body):
        injection = self.engine.take_injection()
        if injection and injection[0] == "hang":
            time.sleep(injection[1])
        elif injection:
            return self._injected_failure(injection[1])
        path = url.path[len(API) :]
        self._base = API + "/v4" if path == "/v4" or path.startswith("/v4/") else API
        user = self._authenticated()
        if user is None:  # EnforceAuthFilter: the basic scheme is offered (web.xml `scheme.basic_auth`)
            self.extra_headers = {"WWW-Authenticate": 'Basic realm="RESTAPI"'}
            return self._send(401, b"", "application/xml;charset=UTF-8")
        parts = [p for p in url.path[len(self._base) :].split("/") if p]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        correlation = self.headers.get("Correlation-Id") or query.get("correlation_id") or str(uuid.uuid4())
        self.extra_headers = {"Correlation-Id": correlation}  # restapi CurrentFilter
        site = self.engine.site
        try:
            with site.lock:
                site.refresh()
                site.request = {"user": user, "correlation_id": correlation}
                try:
                    self._route(site, parts, query, body)
                finally:
                    site.request = None
        except ActionFailed as e:
            self._send_doc(e.status, render.fault(e.reason, e.detail))

    def _authenticated(self):
        """The user of a request with a valid SSO token, or with Basic credentials (deprecated but served, api-model
        002-AuthenticationAndSecurity.adoc); None otherwise."""
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme == "Bearer" and value in self.engine.tokens:
            return self.engine.tokens[value]
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
            except ValueError:
                return None
            return self.engine.login(user, password)
        return None

    def _injected_failure(self, status):
        """502-504 come from Apache (HTML); other 5xx from the engine itself (a fault)."""
        if status in (502, 503, 504):
            return self._send(status, APACHE_503, "text/html; charset=iso-8859-1")
        self._send_doc(status, render.fault("Internal Server Error", "Injected failure"))

    def _route(self, site, parts, query, body):
        if self.command == "POST" and len(parts) == 3:
            return self._action(site, parts, body)
        if self.command == "PUT" and len(parts) == 2 and parts[0] in UPDATES:
            return self._update(site, parts, body)
        if self.command != "GET":
            raise upstream.refusal(self.command, parts)
        all_content = (self.headers.get("All-Content") or query.get("all_content") or "").lower() == "true"
        request = routes.Request(query, all_content)
        obj, root = routes.get(site, parts, request)
        if "follow" in query:
            routes.follow(site, obj, query["follow"], request)
        self._send_doc(200, obj, root=root)

    def _read(self, body, root):
        try:
            return wire.read(body, self.headers.get("Content-Type"), root)
        except Exception as e:  # the SDK reader raises various errors on malformed XML
            raise ActionFailed(400, "Bad Request", "Cannot parse request body: %s" % e) from None

    def _update(self, site, parts, body):
        """PUT hosts/<id> or vms/<id>: the answer is the updated entity. A field the lab does not keep is refused
        when it would change, never taken and dropped."""
        kind, ident = parts
        obj = self._read(body, kind[:-1])
        current = routes.get(site, parts, routes.Request({}, all_content=True))[0]
        ignored = unmodelled_changes(obj, current, MODELLED[kind])
        if ignored:
            raise ActionFailed(
                501, "Not Implemented", f"not modelled by the lab: PUT {kind}/{ident} changing {', '.join(ignored)}"
            )
        site.update(kind, ident, UPDATES[kind](obj))
        self._send_doc(200, routes.get(site, parts, routes.Request({}))[0])

    def _action(self, site, parts, body):
        kind, ident, name = parts
        handler = ACTIONS.get((kind, name))
        if handler is None:
            raise upstream.refusal("POST", parts)
        act = self._read(body, "action") if body else types.Action()
        if not isinstance(act, types.Action):
            raise ActionFailed(400, "Bad Request", "Expected an <action> body")
        handler(site, ident, act)
        self._send_doc(200, render.action(), decorate=False)


def _host_ref(site, ref):
    """An action's <host> names the target by id or by name."""
    if ref is None or (ref.id is None and ref.name is None):
        return None
    if ref.id is not None:
        return ref.id
    match = site.list("hosts", name=ref.name)
    if not match:
        raise ActionFailed(404, "Operation Failed", "Entity not found: Host: name=%s" % ref.name)
    return match[0]["id"]


def _install(site, ident, act):
    publickey = act.ssh is not None and act.ssh.authentication_method == types.SshAuthenticationMethod.PUBLICKEY
    site.install_host(
        ident,
        root_password=act.root_password,
        ssh_publickey=publickey,
        deploy_he=bool(act.deploy_hosted_engine),
        undeploy_he=bool(act.undeploy_hosted_engine),
        activate=act.activate is True,
        reboot=act.reboot is not False,
    )


ACTIONS = {
    ("hosts", "deactivate"): lambda site, ident, act: site.deactivate_host(ident),
    ("hosts", "activate"): lambda site, ident, act: site.activate_host(ident),
    ("hosts", "install"): _install,
    ("hosts", "upgradecheck"): lambda site, ident, act: site.upgrade_check(ident),
    ("vms", "migrate"): lambda site, ident, act: site.migrate_vm(
        ident, _host_ref(site, act.host), force=act.force is True
    ),
    ("vms", "start"): lambda site, ident, act: site.start_vm(ident),
    ("vms", "stop"): lambda site, ident, act: site.stop_vm(ident),
}


def _host_changes(host):
    """The Host fields a PUT may carry, as the lab's state keeps them (HostMapper's inverse)."""
    pm = host.power_management
    return {
        "name": host.name,
        "comment": host.comment,
        "spm_priority": host.spm.priority if host.spm else None,
        "kernel_cmdline": host.os.custom_kernel_cmdline if host.os else None,
        "power_management": {
            k: v
            for k, v in (
                ("enabled", pm.enabled),
                ("kdump_detection", pm.kdump_detection),
                ("automatic_pm_enabled", pm.automatic_pm_enabled),
            )
            if v is not None
        }
        if pm
        else None,
    }


def _vm_changes(vm):
    return {
        "name": vm.name,
        "comment": vm.comment,
        "description": vm.description,
        "memory_mb": vm.memory // (1024 * 1024) if vm.memory else None,
    }


UPDATES = {"hosts": _host_changes, "vms": _vm_changes}
# The fields _host_changes and _vm_changes take, as paths in the request's object.
MODELLED = {
    "hosts": {
        "name",
        "comment",
        "spm.priority",
        "os.custom_kernel_cmdline",
        "power_management.enabled",
        "power_management.kdump_detection",
        "power_management.automatic_pm_enabled",
    },
    "vms": {"name", "comment", "description", "memory"},
}


def unmodelled_changes(wanted, current, modelled, prefix=""):
    """The paths of the fields WANTED sets to something other than CURRENT has, outside MODELLED."""
    changed = []
    for key, value in vars(wanted).items():
        name = prefix + key.lstrip("_")
        if value is None or name in modelled or name in ("href", "id"):
            continue
        have = getattr(current, key.lstrip("_"), None) if current is not None else None
        if isinstance(value, types.Struct):
            changed += unmodelled_changes(value, have, modelled, name + ".")
        elif value != have:
            changed.append(name)
    return changed
