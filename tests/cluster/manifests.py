"""The rendered installation manifests (deployments/kubernetes/), as the cluster tests read them:
`kubectl kustomize` output parsed into objects, and the kubelet plugin's container in it."""

import os
import subprocess

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KUSTOMIZATIONS = ["deployments/kubernetes/base", "deployments/kubernetes/overlays/aks"]


def render(kustomization):
    """(text, objects) of `kubectl kustomize` for a folder relative to the repository root."""
    text = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, kustomization)],
                          check=True, capture_output=True, text=True).stdout
    return text, [o for o in yaml.safe_load_all(text) if o]


def find(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and
             (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError("expected one %s%s, found %d" % (
            kind, " " + name if name else "", len(found)))
    return found[0]


def plugin_container(objects):
    """(DaemonSet, its one container running `migdra plugin`)."""
    daemonset = find(objects, "DaemonSet")
    containers = [c for c in daemonset["spec"]["template"]["spec"]["containers"]
                  if c.get("command", [])[:2] == ["migdra", "plugin"]]
    if len(containers) != 1:
        raise AssertionError("the DaemonSet has no single `migdra plugin` container")
    return daemonset, containers[0]


def host_paths(daemonset, container):
    """{mountPath: hostPath} of the container's hostPath volume mounts."""
    volumes = {v["name"]: v for v in daemonset["spec"]["template"]["spec"].get("volumes", [])}
    out = {}
    for m in container.get("volumeMounts", []):
        host = volumes[m["name"]].get("hostPath")
        if host:
            out[m["mountPath"]] = host["path"]
    return out
