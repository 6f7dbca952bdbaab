"""HTTPS front end: SSO, the REST API and an Apache-like 503 while the engine is down."""
import json
import os
import secrets
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml
import ovirtsdk4.readers  # noqa: F401  registers the XML readers
import ovirtsdk4.types as types
import ovirtsdk4.writers  # noqa: F401  registers the XML writers
from ovirtsdk4.reader import Reader
from ovirtsdk4.writer import Writer

from . import render, tls
from .state import ActionFailed, Site

API = render.API_PREFIX
SSO_TOKEN = '/ovirt-engine/sso/oauth/token'
SSO_LOGOUT = '/ovirt-engine/services/sso-logout'
PKI_RESOURCE = '/ovirt-engine/services/pki-resource'
DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), 'default_model.yaml')
# What Apache's mod_proxy answers when the ovirt-engine service behind it is stopped.
APACHE_503 = (b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
              b'<title>503 Service Unavailable</title>\n</head><body>\n<h1>Service Unavailable</h1>\n'
              b'<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or '
              b'capacity\nproblems. Please try again later.</p>\n</body></html>\n')
RENDERERS = {'datacenters': render.datacenter, 'clusters': render.cluster, 'networks': render.network,
             'hosts': render.host, 'storagedomains': render.storage_domain, 'vms': render.vm,
             'events': render.event}
# URL segment -> XML root tag of the collection document (the API model's plural names).
ROOT_TAGS = {'datacenters': 'data_centers', 'storagedomains': 'storage_domains'}


def load_model(path=DEFAULT_MODEL):
    with open(path) as f:
        return yaml.safe_load(f)


class EngineApi:
    """A simulated oVirt Engine that the unmodified ovirtsdk4 can talk to over verified TLS."""

    def __init__(self, state_dir, model=None, port=0, is_up=lambda: True, delays=None, host='127.0.0.1',
                 monitor=None):
        os.makedirs(state_dir, exist_ok=True)
        self.state_dir, self.host, self.port, self.is_up = state_dir, host, port, is_up
        self.site = Site(state_dir, model if model is not None else load_model(), delays, monitor=monitor)
        self.tokens = set()
        self._injections = []  # pending ('fail', status) / ('hang', seconds), consumed one per API request
        self._lock = threading.Lock()
        self._server = self._thread = None

    @property
    def url(self):
        return 'https://%s:%d%s' % (self.host, self.port, API)

    @property
    def ca_file(self):
        return os.path.join(self.state_dir, tls.CA_CERT)

    def start(self):
        ca_file, cert, key = tls.ensure_certificates(self.state_dir, self.site.engine['fqdn'])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = _Server((self.host, self.port), _Handler, self, context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name='engine-api', daemon=True)
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

    def fail_next(self, count=1, status=503):
        """Make the next `count` API requests answer HTTP `status`."""
        with self._lock:
            self._injections.extend([('fail', status)] * count)

    def hang_next(self, seconds, count=1):
        """Make the next `count` API requests wait `seconds` before being answered."""
        with self._lock:
            self._injections.extend([('hang', seconds)] * count)

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
    protocol_version = 'HTTP/1.1'

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
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_xml(self, status, obj, root=None):
        text = Writer.write(obj, root=root, indent=True)
        self._send(status, text.encode('utf-8'), 'application/xml;charset=UTF-8')

    def _send_json(self, status, data):
        self._send(status, json.dumps(data).encode('utf-8'), 'application/json')

    def _dispatch(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        url = urlsplit(self.path)
        if not self.engine.is_up():
            self._send(503, APACHE_503, 'text/html; charset=iso-8859-1')
        elif url.path == SSO_TOKEN:
            self._sso_token(parse_qs(body.decode('utf-8')))
        elif url.path == SSO_LOGOUT:
            self.engine.tokens.discard(parse_qs(body.decode('utf-8')).get('token', [None])[0])
            self._send_json(200, {})
        elif url.path == PKI_RESOURCE:
            with open(self.engine.ca_file, 'rb') as f:
                self._send(200, f.read(), 'application/x-x509-ca-cert')
        elif url.path == API or url.path.startswith(API + '/'):
            self._api(url, body)
        else:
            self._send(404, b'Not Found\n', 'text/plain')

    def _sso_token(self, form):
        """Password grant as ovirt-engine's SSO answers it (JSON, error_code/error on failure)."""
        engine = self.engine.site.engine
        user, password = form.get('username', [''])[0], form.get('password', [''])[0]
        if form.get('grant_type', [''])[0] != 'password':
            self._send_json(400, {'error_code': 'unsupported_grant_type',
                                  'error': 'The authorization grant type is not supported.'})
        elif user != engine['admin_user'] or password != engine['admin_password']:
            self._send_json(400, {'error_code': 'access_denied',
                                  'error': "Cannot authenticate user '%s': The username or password is "
                                           "incorrect.." % user})
        else:
            token = secrets.token_urlsafe(48)
            self.engine.tokens.add(token)
            self._send_json(200, {'access_token': token, 'scope': 'ovirt-app-api ovirt-ext=token-info:validate',
                                  'exp': str(int((time.time() + 36000) * 1000)), 'token_type': 'bearer'})

    def _api(self, url, body):
        injection = self.engine.take_injection()
        if injection and injection[0] == 'hang':
            time.sleep(injection[1])
        elif injection:
            return self._injected_failure(injection[1])
        auth = self.headers.get('Authorization', '')
        if not auth.startswith('Bearer ') or auth[len('Bearer '):] not in self.engine.tokens:
            return self._send(401, b'', 'application/xml;charset=UTF-8')
        parts = [p for p in url.path[len(API):].split('/') if p]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        site = self.engine.site
        try:
            with site.lock:
                site.refresh()
                self._route(site, parts, query, body)
        except ActionFailed as e:
            self._send_xml(e.status, render.fault(e.reason, e.detail))

    def _injected_failure(self, status):
        """502-504 come from Apache (HTML); other 5xx from the engine itself (a fault)."""
        if status in (502, 503, 504):
            return self._send(status, APACHE_503, 'text/html; charset=iso-8859-1')
        self._send_xml(status, render.fault('Internal Server Error', 'Injected failure'))

    def _route(self, site, parts, query, body):
        if self.command == 'POST' and len(parts) == 3:
            return self._action(site, parts, body)
        if self.command != 'GET':
            raise ActionFailed(405, 'Method Not Allowed', 'Method %s not supported here' % self.command)
        if not parts:
            return self._send_xml(200, render.api(site))
        kind = parts[0]
        if kind not in RENDERERS:
            raise ActionFailed(404, 'Not Found', 'No collection %s' % kind)
        if len(parts) == 1:
            return self._list(site, kind, query)
        if kind == 'events':
            raise ActionFailed(405, 'Method Not Allowed', 'the lab lists events; it does not serve one by id')
        entity = site.get(kind, parts[1])
        if len(parts) == 2:
            return self._send_xml(200, self._render(site, kind, entity, query))
        return self._sub_collection(site, kind, entity, parts[2:])

    @staticmethod
    def _render(site, kind, entity, query):
        if kind == 'hosts':
            return render.host(site, entity, all_content=query.get('all_content', '').lower() == 'true')
        return RENDERERS[kind](site, entity)

    def _list(self, site, kind, query):
        if kind == 'events':  # the audit log, newest first as the engine lists it
            entities = sorted(site.audit_events(), key=lambda e: -int(e['id']))
        else:
            entities = site.list(kind, search=query.get('search'))
        if 'max' in query:
            entities = entities[:int(query['max'])]
        self._send_xml(200, [self._render(site, kind, e, query) for e in entities], root=ROOT_TAGS.get(kind, kind))

    def _sub_collection(self, site, kind, entity, rest):
        """clusters/<id>/networks, datacenters/<id>/{storagedomains,networks,clusters}."""
        sub = rest[0]
        if (kind, sub) == ('clusters', 'networks'):
            items = [render.network(site, n, entity['id']) for n in site.list('networks')
                     if entity['id'] in n['clusters']]
        elif (kind, sub) == ('datacenters', 'storagedomains'):
            domains = site.list('storagedomains', datacenter=entity['id'])
            if len(rest) == 2:
                match = [d for d in domains if d['id'] == rest[1]]
                if not match:
                    raise ActionFailed(404, 'Operation Failed', 'Entity not found: %s' % rest[1])
                return self._send_xml(200, render.storage_domain(site, match[0], entity['id']))
            items = [render.storage_domain(site, d, entity['id']) for d in domains]
        elif (kind, sub) == ('datacenters', 'networks'):
            items = [render.network(site, n) for n in site.list('networks', datacenter=entity['id'])]
        elif (kind, sub) == ('datacenters', 'clusters'):
            items = [render.cluster(site, c) for c in site.list('clusters', datacenter=entity['id'])]
        else:
            raise ActionFailed(404, 'Not Found', 'No sub-collection %s/%s' % (kind, sub))
        if len(rest) > 1:
            raise ActionFailed(404, 'Not Found', 'No resource %s' % '/'.join(rest))
        self._send_xml(200, items, root=ROOT_TAGS.get(sub, sub))

    def _action(self, site, parts, body):
        kind, ident, name = parts
        try:
            act = Reader.read(body) if body else types.Action()
        except Exception as e:  # the SDK reader raises various errors on malformed XML
            raise ActionFailed(400, 'Bad Request', 'Cannot parse request body: %s' % e)
        if not isinstance(act, types.Action):
            raise ActionFailed(400, 'Bad Request', 'Expected an <action> body')
        handler = ACTIONS.get((kind, name))
        if handler is None:
            raise ActionFailed(404, 'Not Found', 'No action %s/%s' % (kind, name))
        handler(site, ident, act)
        self._send_xml(200, render.action())


def _host_ref(site, ref):
    """An action's <host> names the target by id or by name."""
    if ref is None or (ref.id is None and ref.name is None):
        return None
    if ref.id is not None:
        return ref.id
    match = site.list('hosts', name=ref.name)
    if not match:
        raise ActionFailed(404, 'Operation Failed', 'Entity not found: Host: name=%s' % ref.name)
    return match[0]['id']


def _install(site, ident, act):
    publickey = act.ssh is not None and act.ssh.authentication_method == types.SshAuthenticationMethod.PUBLICKEY
    site.install_host(ident, root_password=act.root_password, ssh_publickey=publickey,
                      deploy_he=bool(act.deploy_hosted_engine), undeploy_he=bool(act.undeploy_hosted_engine),
                      activate=act.activate is True, reboot=act.reboot is not False)


ACTIONS = {
    ('hosts', 'deactivate'): lambda site, ident, act: site.deactivate_host(ident),
    ('hosts', 'activate'): lambda site, ident, act: site.activate_host(ident),
    ('hosts', 'install'): _install,
    ('vms', 'migrate'): lambda site, ident, act: site.migrate_vm(ident, _host_ref(site, act.host), force=act.force is True),
}
