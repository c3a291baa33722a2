"""Independent count of free and stranded memory slices from kubectl's JSON, for the metrics test.

Reads ResourceSlices and ResourceClaims (kubectl get -o json) and prints per-GPU counter set
{"<set>": {"allocated": n, "free": n, "stranded": n}}. A free memory slice is stranded when no
unallocated device whose consumed counters all still fit consumes it (docs/observability.md).
Usage: python3 stranded.py SLICES.json CLAIMS.json
"""
import json
import re
import sys

UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text):
    m = re.fullmatch(r"(\d+)([A-Za-z]*)", text)
    return int(m.group(1)) * UNITS[m.group(2)]


slices = json.load(open(sys.argv[1]))["items"]
claims = json.load(open(sys.argv[2]))["items"]
allocated = {(r["pool"], r["device"]) for c in claims
             for r in c.get("status", {}).get("allocation", {}).get("devices", {}).get("results", [])}
capacity, devices = {}, []
for s in slices:
    pool = s["spec"]["pool"]["name"]
    for cs in s["spec"].get("sharedCounters", []):
        capacity[cs["name"]] = {k: quantity(v["value"]) for k, v in cs["counters"].items()}
    for d in s["spec"].get("devices", []):
        for cc in d.get("consumesCounters", []):
            devices.append(((pool, d["name"]), cc["counterSet"],
                            {k: quantity(v["value"]) for k, v in cc["counters"].items()}))
used = {name: {k: 0 for k in counters} for name, counters in capacity.items()}
for key, cset, counters in devices:
    if key in allocated:
        for k, v in counters.items():
            used[cset][k] += v
usable = {name: set() for name in capacity}
for key, cset, counters in devices:
    if key not in allocated and all(used[cset][k] + v <= capacity[cset][k] for k, v in counters.items()):
        usable[cset] |= {k for k, v in counters.items() if k.startswith("memory-slice-") and v > 0}
out = {}
for name, counters in capacity.items():
    memory = [k for k in counters if k.startswith("memory-slice-")]
    free = [k for k in memory if used[name][k] == 0]
    out[name] = {"allocated": len(memory) - len(free), "free": len(free),
                 "stranded": len([k for k in free if k not in usable[name]])}
print(json.dumps(out, sort_keys=True))
