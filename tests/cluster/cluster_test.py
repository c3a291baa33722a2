"""A Kubernetes cluster on one machine, installed from the rendered manifests (see README.md).

`migdra serve --no-node` is the API server, scheduler and controllers. Each GPU node is a real
`migdra plugin` process started with exactly the command, arguments and environment of the AKS
overlay's DaemonSet (host folders remapped into a temporary folder, the service-account token
mounted where a pod has it, simulated GPUs), reaching the API server through an HTTPS front that
enforces the manifests' RBAC for its token, and a kubelet stand-in (tests/driver/
kubelet_standin.py: NodeKubelet). The walkthrough's DeviceClass, template and 84 Jobs fill every
node's partitions at once; one plugin is killed with SIGKILL while it prepares claims and is
started again; then the Jobs end.

Checks: each claim is prepared by the plugin of the node its pod is bound to, on the device the
scheduler allocated, with a CDI spec naming that device and the node's driver files by host path;
no partition is made twice and none is leaked (nvmlsim's MIG state holds exactly the prepared
claims' partitions, and nothing after the Jobs end); the killed plugin's slices, deleted by the
kubelet stand-in as a kubelet does, are published again; every request the plugins send is
allowed by the ClusterRole; the liveness probe answers.

Usage: cluster_test.py --migdra PATH --proto-dir DIR   (root only: mount namespaces)"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "driver"))

import apiserver_proxy  # noqa: E402
import manifests  # noqa: E402
from kubelet_standin import (  # noqa: E402
    ApiServerClient, NodeKubelet, generate_stubs, stop_process)

OVERLAY = "deployments/kubernetes/overlays/aks"
DRIVER_VERSION = "580.65.06"
# The nodes: (name, simulated GPUs, MIG mode on at start as the GPU Operator's MIG manager leaves
# it with `nvidia.com/mig.config=all-enabled`). nvmlsim starts A100s in MIG mode, Hopper GPUs not.
NODES = [("aks-gpu-a100-0", "a100-80gb:8", 8), ("aks-gpu-h100-0", "h100-80gb:4", 4)]
SMALLEST_PER_GPU = 7  # 1g partitions of an 80 GB A100 or H100
JOBS = sum(n for _, _, n in NODES) * SMALLEST_PER_GPU  # 84
KILL_AFTER_PREPARED = 7  # SIGKILL the H100 node's plugin once it prepared this many claims


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout):
    """Waits (bounded) for a state that other processes reach; fails naming `what`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


class Serve:
    """`migdra serve --no-node` on a free port."""

    def __init__(self, migdra, folder):
        self.folder = folder
        self.port = free_port()
        self.log = open(os.path.join(folder, "serve.log"), "wb")
        self.proc = subprocess.Popen(
            [migdra, "serve", "--no-node", "--data-dir", os.path.join(folder, "data"),
             "--listen", "127.0.0.1:%d" % self.port], stdout=self.log, stderr=self.log)
        data = os.path.join(folder, "data")
        self.ca = os.path.join(data, "ca.crt")
        self.kubeconfig = os.path.join(data, "kubeconfig")

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("serve exited: " + self.read_log())
            if not os.path.exists(self.ca):
                return False
            import ssl
            try:
                with urllib.request.urlopen("https://127.0.0.1:%d/readyz" % self.port, timeout=2,
                                            context=ssl.create_default_context(cafile=self.ca)):
                    return True
            except OSError:
                return False
        wait_for("serve's /readyz", ready, 60)
        with open(os.path.join(data, "token")) as f:
            self.token = f.read().strip()
        self.api = ApiServerClient("https://127.0.0.1:%d" % self.port, self.token, self.ca)

    def kubectl(self, *args, input=None):
        r = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, *args], input=input,
                           capture_output=True, text=True)
        assert r.returncode == 0, "kubectl %s: %s" % (" ".join(args), r.stderr)
        return r.stdout

    def read_log(self):
        self.log.flush()
        with open(os.path.join(self.folder, "serve.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        stop_process(self.proc, timeout=30)
        self.log.close()


def fake_driver_root(root):
    """A GPU Operator driver root with the files the plugin's CDI specs name (no real driver)."""
    lib = os.path.join(root, "usr/lib/x86_64-linux-gnu")
    os.makedirs(lib, exist_ok=True)
    os.makedirs(os.path.join(root, "usr/bin"), exist_ok=True)
    for name in ("cuda", "nvidia-ml", "nvidia-ptxjitcompiler"):
        path = os.path.join(lib, "lib%s.so.%s" % (name, DRIVER_VERSION))
        open(path, "w").close()
        os.symlink(os.path.basename(path), os.path.join(lib, "lib%s.so.1" % name))
    smi = os.path.join(root, "usr/bin/nvidia-smi")
    with open(smi, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(smi, 0o755)


class PluginPod:
    """One node's `migdra plugin`, run as the DaemonSet's pod would run it: the container's
    command, args and env (fieldRefs resolved), each hostPath volume's mount path remapped to a
    folder of the node, each container port to a free local port, the service-account token,
    CA and namespace mounted at /var/run/secrets/kubernetes.io/serviceaccount in a private mount
    namespace, and KUBERNETES_SERVICE_HOST/PORT as the kubelet sets them."""

    def __init__(self, migdra, daemonset, container, folder, node, simulate, api_port, token,
                 ca_file):
        self.folder = folder
        self.node = node
        spec = daemonset["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        self.remap = {}  # mount path -> folder
        for m in container["volumeMounts"]:
            if "hostPath" in volumes[m["name"]]:
                self.remap[m["mountPath"]] = os.path.join(folder, m["name"])
                os.makedirs(self.remap[m["mountPath"]], exist_ok=True)
        self.ports = {p["containerPort"]: free_port() for p in container.get("ports", [])}
        args = [self.remap_value(a) for a in container.get("args", [])]
        self.command = [migdra] + container["command"][1:] + args + ["--simulate", simulate]
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOSTNAME": daemonset["metadata"]["name"] + "-" + node,
                    "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                    "KUBERNETES_SERVICE_PORT": str(api_port)}
        fields = {"spec.nodeName": node, "metadata.namespace": daemonset["metadata"]["namespace"],
                  "metadata.name": self.env["HOSTNAME"],
                  "spec.serviceAccountName": spec["serviceAccountName"]}
        for e in container.get("env", []):
            if "valueFrom" in e:
                self.env[e["name"]] = fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                self.env[e["name"]] = self.remap_value(e.get("value", ""))
        account = os.path.join(folder, "serviceaccount")
        os.makedirs(account)
        shutil.copy(ca_file, os.path.join(account, "ca.crt"))
        for name, text in (("token", token), ("namespace", daemonset["metadata"]["namespace"])):
            with open(os.path.join(account, name), "w") as f:
                f.write(text)
        self.account = account
        self.probe = container.get("livenessProbe", {}).get("httpGet")
        self.named_ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        self.proc = None
        self.log = open(os.path.join(folder, "plugin.log"), "ab")

    def remap_value(self, value):
        """A path under a remapped mount path, or HOST:PORT of a container port, as the test
        runs it; anything else unchanged."""
        flag, eq, rest = value.partition("=") if value.startswith("--") else ("", "", value)
        for mount in sorted(self.remap, key=len, reverse=True):
            if rest == mount or rest.startswith(mount + "/"):
                rest = self.remap[mount] + rest[len(mount):]
                break
        else:
            host, colon, port = rest.rpartition(":")
            if colon and port.isdigit() and int(port) in self.ports and "/" not in host:
                rest = "127.0.0.1:%d" % self.ports[int(port)]
        return flag + eq + rest

    def path(self, container_path):
        """Where a container path of a hostPath mount lives in this test."""
        return self.remap_value(container_path)

    @property
    def reg_socket(self):
        return os.path.join(self.env["KUBELET_REGISTRAR_DIRECTORY_PATH"], "gpu.nvidia.com-reg.sock")

    @property
    def dra_socket(self):
        return os.path.join(self.env["KUBELET_PLUGINS_DIRECTORY_PATH"], "gpu.nvidia.com",
                            "dra.sock")

    def start(self):
        mount = ("mount -t tmpfs tmpfs /run && "
                 "mkdir -p /run/secrets/kubernetes.io/serviceaccount && "
                 "mount --bind \"$0\" /run/secrets/kubernetes.io/serviceaccount && exec \"$@\"")
        for sock in (self.reg_socket, self.dra_socket):
            if os.path.exists(sock):
                os.unlink(sock)  # a killed plugin leaves its sockets; the new one binds anew
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, self.account] +
            self.command, env=self.env, stdout=self.log, stderr=self.log)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("plugin on %s exited %d:\n%s" % (
                    self.node, self.proc.returncode, self.read_log()))
            return os.path.exists(self.reg_socket) and os.path.exists(self.dra_socket)
        wait_for("the plugin's sockets on " + self.node, listening, 60)

    def live(self):
        """The DaemonSet's liveness probe, as the kubelet sends it."""
        port = self.probe["port"]
        port = self.named_ports[port] if isinstance(port, str) else port
        url = "http://127.0.0.1:%d%s" % (self.ports[port], self.probe.get("path", "/"))
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status == 200

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        stop_process(self.proc, timeout=30)
        self.log.close()

    def read_log(self):
        self.log.flush()
        with open(os.path.join(self.folder, "plugin.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def state_dir(self):
        return os.path.join(self.env["KUBELET_PLUGINS_DIRECTORY_PATH"], "gpu.nvidia.com")

    def mig_uuids(self):
        """UUIDs of the compute instances (the MIG devices) nvmlsim holds."""
        with open(os.path.join(self.state_dir(), "nvmlsim-state.json")) as f:
            state = json.load(f)
        return {ci["uuid"] for g in state["gpus"] for gi in g["gis"] for ci in gi["cis"]}

    def mig_instances(self):
        """(gpu index, GI profile id, placement start) of every GPU instance nvmlsim holds."""
        path = os.path.join(self.state_dir(), "nvmlsim-state.json")
        with open(path) as f:
            state = json.load(f)
        return sorted((i, gi["profile_id"], gi["start"]) for i, g in enumerate(state["gpus"])
                      for gi in g["gis"])


def tolerates(tolerations, taint):
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value") == taint.get("value"):
            return True
    return False


class ClusterTest:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="migdra-cluster-")
        self.serve = None
        self.proxy = None
        self.plugins = {}
        self.kubelets = {}
        self.lock = threading.Lock()
        self.prepared = {}  # claim uid -> (node, device)
        self.failures = []

    # ---- the parts -------------------------------------------------------------------------
    def start(self):
        _, self.objects = manifests.render(OVERLAY)
        self.daemonset, self.container = manifests.plugin_container(self.objects)
        self.serve = Serve(self.args.migdra, self.tmp)
        namespace = self.daemonset["metadata"]["namespace"]
        account = self.daemonset["spec"]["template"]["spec"]["serviceAccountName"]
        token = "plugin-token-%d" % os.getpid()
        user = "system:serviceaccount:%s:%s" % (namespace, account)
        self.proxy = apiserver_proxy.AuthorizingProxy(
            self.tmp, self.serve.port, self.serve.token, self.serve.ca,
            {token: (apiserver_proxy.rules_of(self.objects, namespace, account), user)})
        # What serve serves of the install (the rest, RBAC and the DaemonSet, is run by hand).
        served = [o for o in self.objects if o["kind"] in ("Namespace", "DeviceClass")]
        self.serve.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(served))
        examples = os.path.join(manifests.ROOT, "examples/aks-mig")
        self.serve.kubectl("apply", "-f", os.path.join(examples, "deviceclass.yaml"),
                           "-f", os.path.join(examples, "resourceclaimtemplate.yaml"))

        taints = [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
        pod_spec = self.daemonset["spec"]["template"]["spec"]
        for node, simulate, mig_gpus in NODES:
            folder = os.path.join(self.tmp, "nodes", node)
            plugin = PluginPod(self.args.migdra, self.daemonset, self.container, folder, node,
                               simulate, self.proxy.port, token, self.proxy.cert)
            fake_driver_root(plugin.path(self.driver_root()))
            if simulate.startswith("h100"):
                self.switch_mig_mode_on(plugin, mig_gpus)
            labels = json.loads(subprocess.run(
                [self.args.migdra, "discover", "--labels", "--simulate", simulate, "-o", "json"],
                check=True, capture_output=True, text=True).stdout)
            labels["kubernetes.io/hostname"] = node
            # The DaemonSet controller would run the plugin on this node.
            for key, value in pod_spec.get("nodeSelector", {}).items():
                assert labels.get(key) == value, "%s lacks label %s=%s" % (node, key, value)
            assert all(tolerates(pod_spec.get("tolerations", []), t) for t in taints)
            plugin.start()
            assert plugin.live(), "liveness probe of " + node
            kubelet = NodeKubelet(self.serve.api, node, labels, taints, plugin,
                                  self.check_prepared)
            kubelet.register_node()
            info = kubelet.register_plugin()
            assert info.endpoint == plugin.dra_socket, info.endpoint
            self.plugins[node] = plugin
            self.kubelets[node] = kubelet
        for node in self.plugins:
            self.wait_published(node)

    def driver_root(self):
        args = dict(a.split("=", 1) for a in self.container["args"] if "=" in a)
        return args["--driver-root"]

    def switch_mig_mode_on(self, plugin, gpus):
        """MIG mode on for every GPU, as the MIG manager's all-enabled profile leaves Hopper
        GPUs: nvmlsim's state file, read by the plugin's nvmlsim at start."""
        os.makedirs(plugin.state_dir(), exist_ok=True)
        with open(os.path.join(plugin.state_dir(), "nvmlsim-state.json"), "w") as f:
            json.dump({"next_uuid": 1, "gpus": [
                {"mig_current": True, "mig_pending": True, "gis": []} for _ in range(gpus)]}, f)

    def slices(self, node):
        return [s for s in self.serve.api.items("/apis/resource.k8s.io/v1/resourceslices")
                if s["spec"].get("nodeName") == node]

    def wait_published(self, node):
        def complete():
            slices = self.slices(node)
            return slices and len(slices) == slices[0]["spec"]["pool"]["resourceSliceCount"]
        wait_for("the ResourceSlices of " + node, complete, 60)
        devices = [d["name"] for s in self.slices(node) for d in s["spec"].get("devices", [])]
        gpus = dict((n, g) for n, _, g in NODES)[node]
        small = [d for d in devices if "-mig-1g10gb-19-" in d]
        assert len(small) == gpus * SMALLEST_PER_GPU, "%s publishes %d 1g partitions" % (
            node, len(small))

    # ---- what the kubelet stand-ins report -------------------------------------------------
    def check_prepared(self, node, claims, response):
        """A claim prepared on `node`: by that node's plugin, on the device the scheduler
        allocated in that node's pool, once, with a CDI spec naming the device's partition and
        the node's driver files by host path."""
        plugin = self.plugins[node]
        for ns, name, uid in claims:
            result = response.claims[uid]
            assert result.error == "", "%s: prepare %s/%s: %s" % (node, ns, name, result.error)
            claim = self.serve.api.get(
                "/apis/resource.k8s.io/v1/namespaces/%s/resourceclaims/%s" % (ns, name))
            allocated = [(r["pool"], r["device"])
                         for r in claim["status"]["allocation"]["devices"]["results"]]
            prepared = [(d.pool_name, d.device_name) for d in result.devices]
            assert prepared == allocated, "%s: prepared %s, allocated %s" % (
                node, prepared, allocated)
            assert all(pool == node for pool, _ in prepared), (
                "claim %s of a pod bound to %s was allocated in %s" % (name, node, prepared))
            spec_path = os.path.join(plugin.path("/var/run/cdi"),
                                     "k8s.gpu.nvidia.com-claim_%s.json" % uid)
            with open(spec_path) as f:
                spec = json.load(f)
            assert spec["kind"] == "k8s.gpu.nvidia.com/claim", spec["kind"]
            names = {spec["kind"] + "=" + d["name"] for d in spec["devices"]}
            for d in result.devices:
                assert set(d.cdi_device_ids) <= names, (d.cdi_device_ids, names)
            env = spec.get("containerEdits", {}).get("env", []) + [
                e for dev in spec["devices"] for e in dev["containerEdits"].get("env", [])]
            visible = [e.split("=", 1)[1] for e in env if e.startswith("NVIDIA_VISIBLE_DEVICES=")]
            partitions = plugin.mig_uuids()
            assert visible and all(v in partitions for v in visible), (
                "the CDI spec makes %s visible, not a partition of %s" % (visible, node))
            driver = plugin.path(self.driver_root())
            mounts = [m["hostPath"] for m in spec.get("containerEdits", {}).get("mounts", [])]
            assert any(m.startswith(driver + "/usr/lib/") for m in mounts), (
                "the CDI spec does not mount the driver's libraries by host path: %s" % mounts)
            with self.lock:
                before = self.prepared.get(uid)
                assert before in (None, (node, prepared[0][1])), (
                    "claim %s prepared twice: %s, then %s" % (name, before, (node, prepared)))
                self.prepared[uid] = (node, prepared[0][1])

    def running(self, node):
        return self.kubelets[node].state_counts().get("running", 0)

    def errors(self):
        return [e for k in self.kubelets.values() for e in k.errors]

    def wait(self, what, predicate, timeout):
        def checked():
            if self.errors():
                raise AssertionError("kubelet stand-in: " + "\n".join(self.errors()))
            return predicate()
        wait_for(what, checked, timeout)

    # ---- the run ---------------------------------------------------------------------------
    def run(self):
        for k in self.kubelets.values():
            k.start()
        with open(os.path.join(manifests.ROOT, "examples/aks-mig/job.yaml")) as f:
            job = f.read()
        jobs = "---\n".join(job.replace("name: samples-tf-mnist-demo\n",
                                        "name: samples-tf-mnist-demo-%02d\n" % i, 1)
                            for i in range(JOBS))
        self.serve.kubectl("apply", "-f", "-", input=jobs)

        # Mid-run: the H100 node's plugin dies while its kubelet prepares claims on 4 workers.
        victim = NODES[1][0]
        self.wait("%d claims prepared on %s" % (KILL_AFTER_PREPARED, victim),
                  lambda: self.running(victim) >= KILL_AFTER_PREPARED, 120)
        self.plugins[victim].kill()
        self.killed_with_prepared = self.running(victim)
        self.kubelets[victim].plugin_gone()
        assert self.slices(victim) == [], "the kubelet stand-in deleted the slices"
        self.plugins[victim].start()
        self.kubelets[victim].register_plugin()
        self.wait_published(victim)
        assert self.plugins[victim].live(), "liveness probe after the restart"

        expected = {node: gpus * SMALLEST_PER_GPU for node, _, gpus in NODES}
        self.wait("all %d Jobs' pods running at once" % JOBS,
                  lambda: all(self.running(n) == c for n, c in expected.items()), 300)
        for node, count in expected.items():
            claimed = sorted(d for n, d in self.prepared.values() if n == node)
            assert len(claimed) == count and len(set(claimed)) == count, (node, claimed)
            # Exactly one partition per prepared claim, at the allocated placement.
            live = self.plugins[node].mig_instances()
            want = sorted((int(d.split("-")[1]), int(d.split("-")[-2]), int(d.split("-")[-1]))
                          for d in claimed)
            assert live == want, "%s: MIG instances %s, prepared claims want %s" % (
                node, live, want)

        for k in self.kubelets.values():
            k.release()
        self.wait("every pod finished and unprepared",
                  lambda: all(k.state_counts() == {"unprepared": c}
                              for k, c in zip(self.kubelets.values(), expected.values())), 300)

        def jobs_complete():
            items = self.serve.api.items("/apis/batch/v1/namespaces/default/jobs")
            return len(items) == JOBS and all(j.get("status", {}).get("succeeded") == 1
                                              for j in items)
        self.wait("%d Jobs complete" % JOBS, jobs_complete, 120)
        for node, plugin in self.plugins.items():
            assert plugin.mig_instances() == [], "%s leaked %s" % (node, plugin.mig_instances())
            left = [f for f in os.listdir(plugin.path("/var/run/cdi")) if "claim_" in f]
            assert left == [], "%s left CDI specs %s" % (node, left)
        assert len(self.prepared) == JOBS, len(self.prepared)
        assert self.proxy.denied == [], "RBAC refused: %s" % self.proxy.denied
        print("ok: %d Jobs on %s; %s killed with %d claims prepared and %d prepare calls in "
              "flight, restarted; plugins used %s" % (
                  JOBS, ", ".join("%s (%s)" % (n, s) for n, s, _ in NODES), victim,
                  self.killed_with_prepared, self.kubelets[victim].interrupted_prepares,
                  sorted("%s %s" % (v, r) for _, v, _, r in self.proxy.granted)))

    def stop(self, failed):
        for k in self.kubelets.values():
            k.stop()
        for node, p in self.plugins.items():
            if failed:
                print("--- plugin on %s:\n%s" % (node, p.read_log()), file=sys.stderr)
            p.stop()
        if self.proxy:
            self.proxy.stop()
        if self.serve:
            if failed:
                print("--- kubelet stand-ins: %s" % {n: k.state_counts()
                                                   for n, k in self.kubelets.items()},
                      file=sys.stderr)
                for what in ("nodes", "pods", "resourceclaims"):
                    try:
                        print("--- kubectl get %s:\n%s" % (what, self.serve.kubectl(
                            "get", what, "-o", "wide")[-3000:]), file=sys.stderr)
                    except AssertionError as e:
                        print(e, file=sys.stderr)
                print("--- serve:\n" + self.serve.read_log(), file=sys.stderr)
            self.serve.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--migdra", required=True)
    parser.add_argument("--proto-dir", required=True)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("skipped: needs root (a mount namespace per plugin for its service account)")
        return 77
    stubs = tempfile.mkdtemp(prefix="migdra-stubs-")
    try:
        generate_stubs(args.proto_dir, stubs)
        test = ClusterTest(args)
        failed = True
        try:
            test.start()
            test.run()
            failed = False
        finally:
            test.stop(failed)
    finally:
        shutil.rmtree(stubs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
