"""The installation manifests hold together: `kubectl kustomize` renders the base and the AKS
overlay; every rendered object passes `migdra validate`; the DaemonSet runs `migdra plugin` with
flags the binary has, mounts the driver root at its host path (the plugin's CDI specs name host
paths), runs as a service account that exists and is bound to the ClusterRole, and pulls the
image of the binary's version; the DeviceClasses it ships (gpu.nvidia.com and mig.nvidia.com at
least) are exactly those of the same name that `migdra deviceclasses` prints (NVIDIA's, which
`migdra serve` installs).

Usage: manifests_test.py MIGDRA"""

import re
import subprocess
import sys

import yaml

import manifests


def flags_of(migdra, command):
    """The long flags `migdra COMMAND --help` lists."""
    text = subprocess.run([migdra, command, "--help"], check=True, capture_output=True,
                          text=True).stdout
    return set(re.findall(r"(?:^|[ ,])(--[a-z][a-z0-9-]*)", text, re.M))


def check(migdra, kustomization):
    text, objects = manifests.render(kustomization)
    validate = subprocess.run([migdra, "validate", "-f", "-"], input=text, capture_output=True,
                              text=True)
    assert validate.returncode == 0, "%s: migdra validate:\n%s" % (kustomization, validate.stdout)

    daemonset, container = manifests.plugin_container(objects)
    known = flags_of(migdra, container["command"][1])
    for arg in container.get("args", []):
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            assert flag in known, "%s: the DaemonSet passes %s, which `migdra %s` does not have" % (
                kustomization, flag, container["command"][1])

    args = dict(a.split("=", 1) for a in container["args"] if "=" in a)
    mounts = manifests.host_paths(daemonset, container)
    root = args["--driver-root"]
    assert mounts.get(root) == root, (
        "%s: the driver root %s must be mounted at its host path (CDI specs name host paths); "
        "mounts: %s" % (kustomization, root, mounts))
    for folder in ("/var/lib/kubelet/plugins", "/var/lib/kubelet/plugins_registry"):
        assert mounts.get(folder) == folder, "%s: %s is not the kubelet's" % (kustomization, folder)

    namespace = daemonset["metadata"]["namespace"]
    manifests.find(objects, "Namespace", namespace)
    account = daemonset["spec"]["template"]["spec"]["serviceAccountName"]
    assert manifests.find(objects, "ServiceAccount", account)["metadata"]["namespace"] == namespace
    binding = manifests.find(objects, "ClusterRoleBinding")
    manifests.find(objects, "ClusterRole", binding["roleRef"]["name"])
    assert {"kind": "ServiceAccount", "name": account, "namespace": namespace} in \
        binding["subjects"], "%s: the ClusterRoleBinding does not bind %s" % (kustomization, account)

    version = subprocess.run([migdra, "--version"], check=True, capture_output=True,
                             text=True).stdout.split()[1]
    assert container["image"].endswith(":" + version), (
        "%s: image %s is not version %s" % (kustomization, container["image"], version))
    printed = subprocess.run([migdra, "deviceclasses"], check=True, capture_output=True,
                             text=True).stdout
    expected = {o["metadata"]["name"]: o["spec"] for o in yaml.safe_load_all(printed) if o}
    shipped = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "DeviceClass"}
    assert {"gpu.nvidia.com", "mig.nvidia.com"} <= shipped.keys(), (
        "%s: the walkthrough's classes are not shipped: %s" % (kustomization, sorted(shipped)))
    for name, spec in shipped.items():
        assert spec == expected.get(name), (
            "%s: DeviceClass %s differs from `migdra deviceclasses`:\nshipped %s\nprinted %s" % (
                kustomization, name, spec, expected.get(name)))
    print("%s: %d objects valid" % (kustomization, len(objects)))


def main():
    migdra = sys.argv[1]
    for kustomization in manifests.KUSTOMIZATIONS:
        check(migdra, kustomization)


if __name__ == "__main__":
    main()
