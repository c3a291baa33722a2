"""A kubelet stand-in for testing `migdra plugin`: a tiny fake API server (claims and
ResourceSlices over HTTP with bearer-token auth), the plugin as a child process, and gRPC clients
for plugin registration and the DRA API (v1 and v1beta1) generated from proto/ at run time.

Run with /usr/bin/python3 (Debian's python3-grpcio)."""

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

TOKEN = "standin-token"


def generate_stubs(proto_dir, out_dir):
    subprocess.run(
        ["protoc", f"--proto_path={proto_dir}", f"--python_out={out_dir}",
         f"--grpc_out={out_dir}", "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
         "dra_v1.proto", "dra_v1beta1.proto", "pluginregistration_v1.proto"],
        check=True, cwd=proto_dir)
    sys.path.insert(0, out_dir)


def stop_process(proc, timeout):
    """SIGTERM, then SIGKILL after `timeout` seconds, for a child process (or None)."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class FakeApiServer:
    """Serves ResourceClaims (GET) and ResourceSlices (list/create/update/delete)."""

    def __init__(self):
        self.claims = {}  # (namespace, name) -> object
        self.slices = {}  # name -> object
        self.requests = []
        self.lock = threading.Lock()
        self.version = 1
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def body(self):
                n = int(self.headers.get("Content-Length", "0"))
                return json.loads(self.rfile.read(n) or b"{}")

            def handle_any(self, method):
                url = urllib.parse.urlparse(self.path)
                with api.lock:
                    api.requests.append((method, url.path))
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    return self.reply(401, {"kind": "Status", "message": "Unauthorized"})
                m = re.fullmatch(r"/apis/resource.k8s.io/v1/namespaces/([^/]+)/resourceclaims/([^/]+)",
                                 url.path)
                if m and method == "GET":
                    with api.lock:
                        claim = api.claims.get((m.group(1), m.group(2)))
                    if claim is None:
                        return self.reply(404, {"kind": "Status", "message": "not found"})
                    return self.reply(200, claim)
                if url.path == "/apis/resource.k8s.io/v1/resourceclaims" and method == "GET":
                    with api.lock:
                        return self.reply(200, {"kind": "ResourceClaimList",
                                                "items": list(api.claims.values())})
                base = "/apis/resource.k8s.io/v1/resourceslices"
                if url.path == base and method == "GET":
                    with api.lock:
                        return self.reply(200, {"kind": "ResourceSliceList",
                                                "items": list(api.slices.values())})
                if url.path == base and method == "POST":
                    obj = self.body()
                    with api.lock:
                        name = obj["metadata"]["name"]
                        if name in api.slices:
                            return self.reply(409, {"message": "exists"})
                        api.version += 1
                        obj["metadata"]["resourceVersion"] = str(api.version)
                        api.slices[name] = obj
                    return self.reply(201, obj)
                if url.path.startswith(base + "/"):
                    name = url.path[len(base) + 1:]
                    with api.lock:
                        if name not in api.slices:
                            return self.reply(404, {"message": "not found"})
                        if method == "DELETE":
                            del api.slices[name]
                            return self.reply(200, {})
                        if method == "PUT":
                            obj = self.body()
                            api.version += 1
                            obj["metadata"]["resourceVersion"] = str(api.version)
                            api.slices[name] = obj
                            return self.reply(200, obj)
                return self.reply(404, {"message": "no route " + url.path})

            def do_GET(self):
                self.handle_any("GET")

            def do_POST(self):
                self.handle_any("POST")

            def do_PUT(self):
                self.handle_any("PUT")

            def do_DELETE(self):
                self.handle_any("DELETE")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def write_kubeconfig(self, path):
        with open(path, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster:
    server: {self.url}
users:
- name: plugin
  user:
    token: {TOKEN}
contexts:
- name: standin
  context: {{cluster: standin, user: plugin}}
current-context: standin
""")

    def add_claim(self, namespace, name, uid, devices, node, driver="gpu.nvidia.com", config=None):
        claim = {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"namespace": namespace, "name": name, "uid": uid},
            "spec": {"devices": {"requests": [{"name": "r%d" % i, "exactly": {
                "deviceClassName": "mig.nvidia.com"}} for i in range(len(devices))]}},
            "status": {
                "reservedFor": [{"resource": "pods", "name": name + "-pod", "uid": uid + "-pod"}],
                "allocation": {"devices": {
                    "results": [{"request": "r%d" % i, "driver": driver, "pool": node,
                                 "device": d} for i, d in enumerate(devices)],
                    "config": config or []}}},
        }
        with self.lock:
            self.claims[(namespace, name)] = claim
        return claim

    def devices(self, kind):
        """Device names of the published slices whose attribute type is `kind`."""
        out = []
        with self.lock:
            for s in self.slices.values():
                for d in s["spec"].get("devices", []):
                    if d.get("attributes", {}).get("type", {}).get("string") == kind:
                        out.append(d["name"])
        return sorted(out)

    def wait_published(self, timeout=30):
        """Waits until every slice of the pool is there (resourceSliceCount)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                counts = [s["spec"]["pool"].get("resourceSliceCount", 0)
                          for s in self.slices.values()]
                if counts and len(self.slices) == counts[0]:
                    return
            time.sleep(0.05)
        raise RuntimeError("the plugin did not publish its slices")

    def small_migs(self):
        """The smallest MIG devices (GI profile 19, 1g) of the first GPU, by placement."""
        names = [n for n in self.devices("mig") if re.fullmatch(r"gpu-(\d+)-mig-.*-19-\d+", n)]
        first = min(int(n.split("-")[1]) for n in names)
        return sorted((n for n in names if n.startswith("gpu-%d-" % first)),
                      key=lambda n: int(n.rsplit("-", 1)[1]))

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Plugin:
    """`migdra plugin` as a child process with its own folders."""

    def __init__(self, migdra, root, api, node="node-a", simulate="a100-80gb:2", extra_env=None,
                 extra_args=()):
        self.root = root
        self.node = node
        self.plugins = os.path.join(root, "plugins")
        self.registry = os.path.join(root, "registry")
        self.cdi = os.path.join(root, "cdi")
        self.state = os.path.join(root, "state")
        self.kubeconfig = os.path.join(root, "kubeconfig")
        api.write_kubeconfig(self.kubeconfig)
        self.args = [migdra, "plugin", "--node-name", node, "--kubeconfig", self.kubeconfig,
                     "--plugins-dir", self.plugins, "--registry-dir", self.registry,
                     "--cdi-root", self.cdi, "--state-dir", self.state,
                     "--simulate", simulate, *extra_args]
        self.proc = None
        self.log = open(os.path.join(root, "plugin.log"), "ab")
        self.extra_env = extra_env or {}

    @property
    def dra_socket(self):
        return os.path.join(self.plugins, "gpu.nvidia.com", "dra.sock")

    @property
    def reg_socket(self):
        return os.path.join(self.registry, "gpu.nvidia.com-reg.sock")

    def start(self, env=None):
        for p in (self.dra_socket, self.reg_socket):
            if os.path.exists(p):
                os.unlink(p)
        e = dict(os.environ)
        e.pop("MIGDRA_CRASH_AT", None)
        e.update(self.extra_env)
        e.update(env or {})
        self.proc = subprocess.Popen(self.args, env=e, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(self.reg_socket) and os.path.exists(self.dra_socket):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("plugin exited with %d; log:\n%s" % (self.proc.returncode,
                                                                       self.read_log()))
            time.sleep(0.05)
        raise RuntimeError("plugin did not start; log:\n" + self.read_log())

    def wait(self, timeout=20):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        stop_process(self.proc, timeout=10)

    def close(self):
        self.stop()
        self.log.close()

    def read_log(self):
        self.log.flush()
        with open(os.path.join(self.root, "plugin.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def nvmlsim_instances(self):
        """(gpu index, GI start, GI profile, [CI uuids]) of every GI in nvmlsim's state file."""
        path = os.path.join(self.state, "nvmlsim-state.json")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            state = json.load(f)
        out = []
        for i, g in enumerate(state["gpus"]):
            for gi in g["gis"]:
                out.append((i, gi["start"], gi["profile_id"], [c["uuid"] for c in gi["cis"]]))
        return out

    def cdi_spec(self, uid):
        path = os.path.join(self.cdi, "k8s.gpu.nvidia.com-claim_%s.json" % uid)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)


class Kubelet:
    """gRPC clients of one plugin, as the kubelet would hold them."""

    def __init__(self, plugin):
        import grpc
        import dra_v1_pb2, dra_v1_pb2_grpc, dra_v1beta1_pb2, dra_v1beta1_pb2_grpc
        import pluginregistration_v1_pb2, pluginregistration_v1_pb2_grpc
        self.grpc = grpc
        self.v1, self.v1beta1 = dra_v1_pb2, dra_v1beta1_pb2
        self.reg_pb = pluginregistration_v1_pb2
        self.reg_channel = grpc.insecure_channel("unix://" + plugin.reg_socket)
        self.registration = pluginregistration_v1_pb2_grpc.RegistrationStub(self.reg_channel)
        self.dra_channel = grpc.insecure_channel("unix://" + plugin.dra_socket)
        self.stubs = {"v1": dra_v1_pb2_grpc.DRAPluginStub(self.dra_channel),
                      "v1beta1": dra_v1beta1_pb2_grpc.DRAPluginStub(self.dra_channel)}

    def register(self):
        info = self.registration.GetInfo(self.reg_pb.InfoRequest(), timeout=10)
        self.registration.NotifyRegistrationStatus(
            self.reg_pb.RegistrationStatus(plugin_registered=True), timeout=10)
        return info

    def prepare(self, claims, version="v1", timeout=30):
        pb = getattr(self, version)
        req = pb.NodePrepareResourcesRequest(
            claims=[pb.Claim(namespace=ns, name=name, uid=uid) for ns, name, uid in claims])
        return self.stubs[version].NodePrepareResources(req, timeout=timeout)

    def unprepare(self, claims, version="v1", timeout=30):
        pb = getattr(self, version)
        req = pb.NodeUnprepareResourcesRequest(
            claims=[pb.Claim(namespace=ns, name=name, uid=uid) for ns, name, uid in claims])
        return self.stubs[version].NodeUnprepareResources(req, timeout=timeout)

    def close(self):
        self.reg_channel.close()
        self.dra_channel.close()


def parse_args():
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--migdra", required=True)
    p.add_argument("--proto-dir", required=True)
    args, rest = p.parse_known_args()
    stubs = tempfile.mkdtemp(prefix="migdra-stubs-")
    generate_stubs(args.proto_dir, stubs)
    return args, [sys.argv[0]] + rest


class ApiServerClient:
    """JSON over HTTPS to a real API server (migdra serve), with a bearer token and a CA file."""

    def __init__(self, server, token, ca_file):
        import http.client
        import ssl
        self.http = http.client
        url = urllib.parse.urlparse(server)
        self.host, self.port = url.hostname, url.port
        self.token = token
        self.context = ssl.create_default_context(cafile=ca_file)
        self.local = threading.local()  # one connection per thread

    def request(self, method, path, body=None, ok=(200, 201)):
        """(status, parsed body); raises unless the status is in `ok`."""
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.http.HTTPSConnection(self.host, self.port, context=self.context,
                                             timeout=30)
            self.local.conn = conn
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, self.http.HTTPException):
            self.local.conn = None
            conn.close()
            raise
        parsed = json.loads(raw) if raw else None
        if resp.status not in ok:
            raise RuntimeError("%s %s: HTTP %d: %s" % (method, path, resp.status, raw[:500]))
        return resp.status, parsed

    def get(self, path):
        return self.request("GET", path)[1]

    def items(self, path):
        return self.get(path).get("items") or []


class NodeKubelet:
    """The kubelet's DRA duties on one node of a real API server: registers the Node and the
    node's plugin (plugin registration gRPC), and for each pod bound to the node: prepares its
    claims (NodePrepareResources), has `check_prepared` look at what the runtime would be given,
    reports the pod Running, and once `release()` is called, Succeeded; then unprepares its claims
    (NodeUnprepareResources). Prepares run on `workers` threads, as the kubelet's pod workers do.
    A prepare that fails because the plugin is gone is tried again once the plugin registers
    anew, as the kubelet does."""

    def __init__(self, api, node, labels, taints, sockets, check_prepared, workers=4):
        self.api = api
        self.node = node
        self.labels = labels
        self.taints = taints
        self.sockets = sockets  # object with reg_socket and dra_socket
        self.check_prepared = check_prepared  # (node, claims, response) -> None, raises
        self.workers = workers
        self.lock = threading.Condition()
        self.kubelet = None
        self.registered = False
        self.pods = {}  # pod uid -> "preparing" | "running" | "succeeded" | "unprepared"
        self.claims = {}  # pod uid -> [(namespace, name, uid)]
        self.running_pods = {}  # pod uid -> pod object, once reported Running
        self.work = []  # ("run" | "finish", pod) for the workers
        self.released = False
        self.interrupted_prepares = 0  # prepares the plugin did not answer (it died), tried again
        self.errors = []
        self.stop_event = threading.Event()
        self.threads = []

    # ---- node and plugin registration ------------------------------------------------------
    def register_node(self):
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node, "labels": self.labels},
                "spec": {"taints": self.taints},
                "status": {"capacity": {"cpu": "96", "memory": "1900Gi", "pods": "110"},
                           "allocatable": {"cpu": "96", "memory": "1900Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": "True",
                                           "reason": "KubeletReady",
                                           "message": "kubelet stand-in is posting ready status"}]}}
        self.api.request("POST", "/api/v1/nodes", node)

    def register_plugin(self):
        """GetInfo and NotifyRegistrationStatus on the registration socket, then a DRA client."""
        with self.lock:
            if self.kubelet is not None:
                self.kubelet.close()
            self.kubelet = Kubelet(self.sockets)
            info = self.kubelet.register()
            self.registered = True
            self.lock.notify_all()
        return info

    def plugin_gone(self, driver="gpu.nvidia.com"):
        """What the kubelet does when a plugin's registration socket goes away: forget the plugin
        and delete the node's ResourceSlices of its driver."""
        with self.lock:
            self.registered = False
        for s in self.api.items("/apis/resource.k8s.io/v1/resourceslices"):
            if s["spec"].get("nodeName") == self.node and s["spec"]["driver"] == driver:
                self.api.request("DELETE", "/apis/resource.k8s.io/v1/resourceslices/" +
                                 s["metadata"]["name"])

    # ---- pods ------------------------------------------------------------------------------
    def start(self):
        self.threads = [threading.Thread(target=self.sync_loop, daemon=True)]
        for _ in range(self.workers):
            self.threads.append(threading.Thread(target=self.worker, daemon=True))
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        with self.lock:
            self.lock.notify_all()
        for t in self.threads:
            t.join(timeout=30)
        if self.kubelet is not None:
            self.kubelet.close()

    def release(self):
        """Lets every running pod finish: Succeeded, then its claims unprepared."""
        with self.lock:
            self.released = True
            for uid, state in self.pods.items():
                if state == "running":
                    self.work.append(("finish", self.running_pods[uid]))
            self.lock.notify_all()

    def state_counts(self):
        with self.lock:
            counts = {}
            for s in self.pods.values():
                counts[s] = counts.get(s, 0) + 1
            return counts

    def guarded(self, fn):
        try:
            fn()
        except Exception as e:  # reported by the test, which fails on any error
            import traceback
            with self.lock:
                self.errors.append("%s: %s\n%s" % (self.node, e, traceback.format_exc()))
                self.lock.notify_all()

    def sync_loop(self):
        """Lists the pods bound to this node, as the kubelet's pod source does, and queues the
        new ones for the workers."""
        selector = urllib.parse.quote("spec.nodeName=" + self.node)
        while not self.stop_event.is_set():
            def sync():
                for pod in self.api.items("/api/v1/pods?fieldSelector=" + selector):
                    uid = pod["metadata"]["uid"]
                    with self.lock:
                        if uid in self.pods:
                            continue
                        self.pods[uid] = "preparing"
                        self.work.append(("run", pod))
                        self.lock.notify_all()
            self.guarded(sync)
            self.stop_event.wait(0.2)

    def worker(self):
        while True:
            with self.lock:
                while not self.work and not self.stop_event.is_set():
                    self.lock.wait()
                if self.stop_event.is_set():
                    return
                step, pod = self.work.pop(0)
            self.guarded(lambda: self.run_pod(pod) if step == "run" else self.finish_pod(pod))

    def pod_claims(self, pod):
        """(namespace, name, uid) of each claim the pod uses (generated ones via the status)."""
        ns = pod["metadata"]["namespace"]
        generated = {s["name"]: s.get("resourceClaimName")
                     for s in pod.get("status", {}).get("resourceClaimStatuses", [])}
        out = []
        for entry in pod["spec"].get("resourceClaims", []):
            name = entry.get("resourceClaimName") or generated.get(entry["name"])
            if not name:
                raise RuntimeError("pod %s is bound without its claim %s" % (
                    pod["metadata"]["name"], entry["name"]))
            claim = self.api.get("/apis/resource.k8s.io/v1/namespaces/%s/resourceclaims/%s" %
                                 (ns, name))
            out.append((ns, name, claim["metadata"]["uid"]))
        return out

    def prepare(self, claims):
        """NodePrepareResources until the plugin answers: a plugin that is gone (killed) is
        waited for until it registers again, as the kubelet does."""
        while True:
            with self.lock:
                while not self.registered and not self.stop_event.is_set():
                    self.lock.wait()
                if self.stop_event.is_set():
                    raise RuntimeError("stopped")
                kubelet = self.kubelet
            try:
                return kubelet.prepare(claims)
            except kubelet.grpc.RpcError as e:
                if e.code() != kubelet.grpc.StatusCode.UNAVAILABLE:
                    raise
                with self.lock:
                    # The plugin died under this call; wait for it to register anew.
                    self.interrupted_prepares += 1
                    if self.kubelet is kubelet:
                        self.registered = False

    def set_phase(self, pod, phase):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        path = "/api/v1/namespaces/%s/pods/%s/status" % (ns, name)
        current = self.api.get(path)
        status = current.setdefault("status", {})
        status["phase"] = phase
        container = pod["spec"]["containers"][0]["name"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = "True" if phase == "Running" else "False"
        conditions = [c for c in status.get("conditions", []) if c["type"] not in
                      ("Ready", "ContainersReady", "Initialized")]
        conditions += [{"type": t, "status": v, "lastTransitionTime": now}
                       for t, v in (("Initialized", "True"), ("ContainersReady", ready),
                                    ("Ready", ready))]
        status["conditions"] = conditions
        state = ({"running": {"startedAt": now}} if phase == "Running" else
                 {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": now}})
        status["containerStatuses"] = [{"name": container, "ready": phase == "Running",
                                        "restartCount": 0, "image": pod["spec"]["containers"][0]
                                        ["image"], "imageID": "", "state": state,
                                        "started": phase == "Running"}]
        status.setdefault("startTime", now)
        self.api.request("PUT", path, current)

    def run_pod(self, pod):
        uid = pod["metadata"]["uid"]
        claims = self.pod_claims(pod)
        response = self.prepare(claims)
        self.check_prepared(self.node, claims, response)
        with self.lock:
            self.claims[uid] = claims
        self.set_phase(pod, "Running")
        with self.lock:
            self.pods[uid] = "running"
            self.running_pods[uid] = pod
            if self.released:
                self.work.append(("finish", pod))
            self.lock.notify_all()

    def finish_pod(self, pod):
        uid = pod["metadata"]["uid"]
        self.set_phase(pod, "Succeeded")
        with self.lock:
            self.pods[uid] = "succeeded"
            kubelet = self.kubelet
            claims = self.claims[uid]
        result = kubelet.unprepare(claims)
        for _, _, claim_uid in claims:
            if result.claims[claim_uid].error:
                raise RuntimeError("unprepare %s: %s" % (claim_uid, result.claims[claim_uid].error))
        with self.lock:
            self.pods[uid] = "unprepared"
            self.lock.notify_all()
