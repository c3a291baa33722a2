#!/usr/bin/env python3
"""A minimal container runner that applies one CDI device of a spec, for the GPU machine (which has
no container runtime): in a private mount namespace it gives ROOTFS what a runtime gives every
container (/proc, /sys read-only, a tmpfs /dev with null, zero, full, random, urandom, tty, and
/dev/shm), then the spec's edits for the device — the spec-wide containerEdits and the device's —
exactly as written: device nodes (mknod with the host node's numbers, or a bind mount of the host
node where mknod is refused), bind mounts with their options, createContainer hooks (run as OCI
runtimes run them: the container state on stdin, the bundle's config.json naming the root), and
the environment; then it chroots into ROOTFS and executes the command.

Usage (root): cdi_run.py --spec FILE --device NAME --rootfs DIR [--image-env N=V]... -- COMMAND...
       cdi_run.py --no-spec --rootfs DIR [--image-env N=V]... -- COMMAND...   (runtime basics alone)
Exits with the command's status, or 125 when the spec cannot be applied.
"""
import argparse
import ctypes
import json
import os
import stat
import subprocess
import sys
import tempfile


def sh(*args):
    subprocess.run(args, check=True)


def make_target(path, is_dir):
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            open(path, "w").close()


def bind(host, target, options):
    make_target(target, os.path.isdir(host))
    sh("mount", "--rbind" if "rbind" in options else "--bind", host, target)
    flags = [o for o in ("ro", "nosuid", "nodev", "noexec") if o in options]
    if flags:
        sh("mount", "-o", ",".join(["remount", "bind"] + flags), target)


def device_node(host, target):
    st = os.stat(host)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    kind = stat.S_IFCHR if stat.S_ISCHR(st.st_mode) else stat.S_IFBLK
    try:
        os.mknod(target, kind | stat.S_IMODE(st.st_mode), st.st_rdev)
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.chown(target, st.st_uid, st.st_gid)
        return "mknod"
    except OSError:
        make_target(target, False)
        sh("mount", "--bind", host, target)
        return "bind"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--spec")
    p.add_argument("--device")
    p.add_argument("--no-spec", action="store_true")
    p.add_argument("--rootfs", required=True)
    p.add_argument("--image-env", action="append", default=[],
                   help="NAME=VALUE the image sets (the spec's env is applied on top)")
    p.add_argument("command", nargs="+")
    a = p.parse_args()
    rootfs = os.path.realpath(a.rootfs)

    edits = []
    if not a.no_spec:
        spec = json.load(open(a.spec))
        devices = [d for d in spec["devices"] if d["name"] == a.device]
        if not devices:
            print(f"cdi_run: no device {a.device} in {a.spec}", file=sys.stderr)
            return 125
        edits = [spec.get("containerEdits", {}), devices[0].get("containerEdits", {})]

    if ctypes.CDLL(None, use_errno=True).unshare(0x00020000) != 0:  # CLONE_NEWNS
        print(f"cdi_run: unshare: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 125
    sh("mount", "--make-rprivate", "/")
    # What every container gets from its runtime.
    os.makedirs(f"{rootfs}/proc", exist_ok=True)
    sh("mount", "-t", "proc", "proc", f"{rootfs}/proc")
    bind("/sys", f"{rootfs}/sys", ["rbind", "ro", "nosuid", "nodev", "noexec"])
    os.makedirs(f"{rootfs}/dev", exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", "nosuid,mode=755", "tmpfs", f"{rootfs}/dev")
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        device_node(f"/dev/{name}", f"{rootfs}/dev/{name}")
    os.makedirs(f"{rootfs}/dev/shm")
    sh("mount", "-t", "tmpfs", "-o", "nosuid,nodev,mode=1777", "shm", f"{rootfs}/dev/shm")
    os.makedirs(f"{rootfs}/tmp", exist_ok=True)

    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.image_env
    hooks = []
    for e in edits:
        for n in e.get("deviceNodes", []):
            how = device_node(n.get("hostPath", n["path"]), rootfs + n["path"])
            print(f"cdi_run: device node {n['path']} ({how})", file=sys.stderr)
        for m in e.get("mounts", []):
            bind(m["hostPath"], rootfs + m["containerPath"], m.get("options", []))
            print(f"cdi_run: mount {m['hostPath']} -> {m['containerPath']} {m.get('options', [])}",
                  file=sys.stderr)
        env += e.get("env", [])
        hooks += e.get("hooks", [])
    for h in hooks:
        if h["hookName"] not in ("createRuntime", "createContainer", "prestart"):
            continue
        bundle = tempfile.mkdtemp(prefix="cdi-bundle-")
        json.dump({"ociVersion": "1.0.2", "root": {"path": rootfs}, "process": {"env": env}},
                  open(f"{bundle}/config.json", "w"))
        state = {"ociVersion": "1.0.2", "id": "cdi-run", "status": "creating",
                 "pid": os.getpid(), "bundle": bundle}
        print(f"cdi_run: hook {h['path']} {' '.join(h.get('args', [])[1:])}", file=sys.stderr)
        r = subprocess.run(h.get("args", [h["path"]]), executable=h["path"], env=dict(
            x.split("=", 1) for x in h.get("env", [])), input=json.dumps(state).encode())
        if r.returncode != 0:
            print(f"cdi_run: hook {h['path']} failed ({r.returncode})", file=sys.stderr)
            return 125

    os.chroot(rootfs)
    os.chdir("/")
    os.execve(a.command[0], a.command, dict(x.split("=", 1) for x in env))


if __name__ == "__main__":
    sys.exit(main())
