"""An HTTPS front for `migdra serve` that authenticates the plugins' service-account tokens and
authorizes each request with the RBAC rules of the rendered manifests, as a Kubernetes API server
would: serve has one token and no RBAC, so without this the plugins' permissions would go
unchecked. It is a check of the manifests, not an authorizer for serve: it knows the verbs a
REST request maps to, ClusterRoleBindings to ServiceAccounts, and rules' apiGroups, resources
and verbs (with "*")."""

import http.client
import http.server
import json
import re
import ssl
import subprocess
import threading
import urllib.parse

RESOURCE_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$")


def request_attributes(method, path):
    """(verb, apiGroup, resource) of a REST request, or None for a non-resource path."""
    url = urllib.parse.urlparse(path)
    m = RESOURCE_PATH.match(url.path)
    if not m:
        return None
    query = urllib.parse.parse_qs(url.query)
    collection = m.group("name") is None
    verb = {"GET": "list" if collection else "get", "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "deletecollection" if collection else "delete"}[method]
    if verb == "list" and query.get("watch", ["false"])[0] in ("true", "1"):
        verb = "watch"
    resource = m.group("resource") + ("/" + m.group("sub") if m.group("sub") else "")
    return verb, m.group("group") or "", resource


def rules_of(objects, namespace, account):
    """The ClusterRole rules bound to ServiceAccount namespace/account."""
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}
    rules = []
    for b in objects:
        if b["kind"] != "ClusterRoleBinding":
            continue
        if {"kind": "ServiceAccount", "name": account, "namespace": namespace} in b["subjects"]:
            rules += roles[b["roleRef"]["name"]].get("rules", [])
    return rules


def allowed(rules, verb, group, resource):
    def has(values, value):
        return "*" in values or value in values
    return any(has(r.get("verbs", []), verb) and has(r.get("apiGroups", []), group) and
               has(r.get("resources", []), resource) for r in rules)


def make_certificate(folder):
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    cert, key = folder + "/proxy.crt", folder + "/proxy.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=kubernetes", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class AuthorizingProxy:
    """Listens on 127.0.0.1 (TLS); `tokens` maps a bearer token to (rules, user name)."""

    def __init__(self, folder, upstream_port, upstream_token, upstream_ca, tokens):
        self.cert, key = make_certificate(folder)
        self.tokens = tokens
        self.lock = threading.Lock()
        self.granted = set()  # (user, verb, group, resource) that were used and allowed
        self.denied = []  # "user verb group/resource path" that were refused
        upstream_context = ssl.create_default_context(cafile=upstream_ca)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, code, body, content_type="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def status(self, code, reason, message):
                self.reply(code, json.dumps({"kind": "Status", "apiVersion": "v1",
                                             "status": "Failure", "reason": reason,
                                             "message": message, "code": code}).encode())

            def handle_any(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n) if n else None
                auth = self.headers.get("Authorization", "")
                identity = proxy.tokens.get(auth[len("Bearer "):]) if auth.startswith(
                    "Bearer ") else None
                if identity is None:
                    return self.status(401, "Unauthorized", "Unauthorized")
                rules, user = identity
                attributes = request_attributes(self.command, self.path)
                if attributes is None or not allowed(rules, *attributes):
                    with proxy.lock:
                        proxy.denied.append("%s %s %s" % (user, attributes, self.path))
                    return self.status(403, "Forbidden", "%s cannot %s" % (user, attributes))
                with proxy.lock:
                    proxy.granted.add((user,) + attributes)
                conn = http.client.HTTPSConnection("127.0.0.1", upstream_port,
                                                   context=upstream_context, timeout=60)
                headers = {"Authorization": "Bearer " + upstream_token}
                for h in ("Content-Type", "Accept"):
                    if self.headers.get(h):
                        headers[h] = self.headers[h]
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.reply(resp.status, data,
                               resp.getheader("Content-Type", "application/json"))
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
