#!/usr/bin/env python3
"""Compares `migdra discover -o json` (and --labels) with nvidia-smi, field by field.

Inputs (files written by compare_discover.sh): slices.json, labels.json, smi-L.txt, smi-query.csv,
smi-minor.txt, lgip.txt, lgipp.txt. Prints one line per compared field group and exits 1 on any
mismatch. Read-only: it only reads what the commands printed.
"""
import json
import re
import sys
from collections import defaultdict

d = sys.argv[1]
failures = []
checks = 0


def check(what, got, want):
    global checks
    checks += 1
    if got != want:
        failures.append(f"{what}: migdra {got!r} != nvidia-smi {want!r}")


def semver(v):
    parts = [str(int(p)) for p in v.split(".")]
    while len(parts) < 3:
        parts.append("0")
    return ".".join(parts[:3])


def mib(quantity):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)?", quantity)
    scale = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    return int(m.group(1)) * scale[m.group(2)] if m.group(2) else int(m.group(1)) / 1048576


def go_nvlib_bus(bus):
    b = bus.lower()
    return b[4:] if b.startswith("0000") and b != "0000" else b


slices = json.load(open(f"{d}/slices.json"))["items"]
labels = json.load(open(f"{d}/labels.json"))
devices = {}
counter_sets = {}
for s in slices:
    for dev in s["spec"].get("devices", []):
        devices[dev["name"]] = dev
    for cs in s["spec"].get("sharedCounters", []):
        counter_sets[cs["name"]] = cs


def attr(dev, name):
    a = dev["attributes"].get(name, {})
    return a.get("string", a.get("version"))


# nvidia-smi --query-gpu=index,uuid,name,pci.bus_id,memory.total,mig.mode.current,compute_cap,driver_version
gpus = []
for line in open(f"{d}/smi-query.csv"):
    f = [x.strip() for x in line.split(",")]
    if len(f) >= 8:
        gpus.append(dict(index=int(f[0]), uuid=f[1], name=f[2], bus=f[3], mem=f[4], mig=f[5],
                         cc=f[6], driver=f[7]))
minors = {}
for line in open(f"{d}/smi-minor.txt"):
    m = re.match(r"\s*(\d+)\s*,\s*(\d+)", line)
    if m:
        minors[int(m.group(1))] = int(m.group(2))
smi_l = open(f"{d}/smi-L.txt").read()

check("GPU count (labels)", labels.get("nvidia.com/gpu.count"), str(len(gpus)))
for g in gpus:
    minor = minors.get(g["index"], g["index"])
    mig_devs = [n for n in devices if n.startswith(f"gpu-{minor}-mig-")]
    full = devices.get(f"gpu-{minor}")
    where = f"GPU {g['index']} (minor {minor})"
    check(f"{where} listed by nvidia-smi -L", f"GPU {g['index']}: {g['name']} (UUID: {g['uuid']})" in smi_l, True)
    ref = full or (devices[mig_devs[0]] if mig_devs else None)
    if ref is None:
        failures.append(f"{where}: no device published")
        continue
    uuid = attr(full, "uuid") if full else attr(ref, "parentUUID")
    check(f"{where} uuid", uuid, g["uuid"])
    check(f"{where} productName", attr(ref, "productName"), g["name"])
    check(f"{where} pciBusID", attr(ref, "resource.kubernetes.io/pciBusID"), go_nvlib_bus(g["bus"]))
    check(f"{where} cudaComputeCapability", attr(ref, "cudaComputeCapability"), semver(g["cc"]))
    check(f"{where} driverVersion", attr(ref, "driverVersion"), semver(g["driver"]))
    if g["index"] == 0:
        check("labels gpu.memory (MiB)", labels.get("nvidia.com/gpu.memory"),
              g["mem"].split()[0])
        check("labels gpu.product", labels.get("nvidia.com/gpu.product"), g["name"].replace(" ", "-"))
        check("labels gpu.compute.major", labels.get("nvidia.com/gpu.compute.major"), g["cc"].split(".")[0])
        check("labels cuda.driver-version.full", labels.get("nvidia.com/cuda.driver-version.full"), g["driver"])
    print(f"{where}: {g['name']} {g['uuid']} MIG {g['mig']}; migdra publishes "
          f"{'gpu-%d + ' % minor if full else ''}{len(mig_devs)} MIG devices")

    # MIG profiles (nvidia-smi mig -lgip, two lines per profile) and placements (-lgipp).
    profiles = {}
    lines = open(f"{d}/lgip.txt").read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\|\s+(\d+)\s+MIG (\S+)\s+(\d+)\s+(\d+)/(\d+)\s+([\d.]+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+\|", line)
        if not m or int(m.group(1)) != g["index"]:
            continue
        m2 = re.match(r"\|\s+(\d+)\s+(\d+)\s+(\d+)\s+\|", lines[i + 1])
        profiles[int(m.group(3))] = dict(name=m.group(2), total=int(m.group(5)), gib=m.group(6),
                                         sm=int(m.group(7)), dec=int(m.group(8)), enc=int(m.group(9)),
                                         ce=int(m2.group(1)), jpeg=int(m2.group(2)), ofa=int(m2.group(3)))
    placements = {}
    for line in open(f"{d}/lgipp.txt"):
        m = re.match(r"GPU\s+(\d+)\s+Profile ID\s+(\d+)\s+Placements?\s*:\s*\{([\d,]+)\}:(\d+)", line)
        if m and int(m.group(1)) == g["index"]:
            placements[int(m.group(2))] = ([int(x) for x in m.group(3).split(",")], int(m.group(4)))
    if not profiles:
        print(f"{where}: nvidia-smi lists no MIG profiles")
        check(f"{where} MIG devices", len(mig_devs), 0)
        continue
    expected = set()
    for pid, p in profiles.items():
        starts, size = placements.get(pid, ([], 0))
        check(f"{where} profile {pid} has placements", bool(starts), True)
        for start in starts:
            name = "gpu-%d-mig-%s-%d-%d" % (minor, re.sub(r"[^a-z0-9-]", "-", p["name"].replace(".", "").lower()), pid, start)
            expected.add(name)
            dev = devices.get(name)
            if dev is None:
                failures.append(f"{where}: missing device {name}")
                continue
            cap = {k: int(v["value"]) if re.fullmatch(r"\d+", v["value"]) else v["value"]
                   for k, v in dev["capacity"].items()}
            check(f"{name} profile", attr(dev, "profile"), p["name"])
            check(f"{name} memory GiB", "%.2f" % (mib(dev["capacity"]["memory"]["value"]) / 1024), p["gib"])
            check(f"{name} multiprocessors", cap.get("multiprocessors"), p["sm"])
            check(f"{name} decoders", cap.get("decoders"), p["dec"])
            check(f"{name} encoders", cap.get("encoders"), p["enc"])
            check(f"{name} copyEngines", cap.get("copyEngines"), p["ce"])
            check(f"{name} jpegEngines", cap.get("jpegEngines"), p["jpeg"])
            check(f"{name} ofaEngines", cap.get("ofaEngines"), p["ofa"])
            consumed = dev["consumesCounters"][0]["counters"]
            slices_used = sorted(int(k.split("-")[-1]) for k in consumed if k.startswith("memory-slice-"))
            check(f"{name} memory slices", slices_used, list(range(start, start + size)))
        print(f"  profile {pid:>2} {p['name']:<12} SM {p['sm']:>3} DEC {p['dec']} ENC {p['enc']} CE {p['ce']} "
              f"JPEG {p['jpeg']} OFA {p['ofa']} placements {starts}:{size} -> {len(starts)} devices")
    check(f"{where} MIG device set", sorted(set(mig_devs)), sorted(expected))
    cs = counter_sets.get(f"gpu-{minor}-counter-set")
    if cs is not None:
        grid = max(max(s) + sz for s, sz in placements.values())
        check(f"{where} counter memory slices",
              sorted(k for k in cs["counters"] if k.startswith("memory-slice-")),
              sorted(f"memory-slice-{i}" for i in range(grid)))

print(f"{checks} checks, {len(failures)} mismatches")
for f in failures:
    print("MISMATCH " + f)
sys.exit(1 if failures else 0)
