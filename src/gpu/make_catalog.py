"""Derives src/gpu/catalog.json from the reference table mig-profiles.json.

Usage: make_catalog.py MIG_PROFILES_JSON OUTPUT_JSON
The catalog adds what simulation needs (product name, architecture, memory, PCI id, brand), takes
the H200's memory sizes from the real H200 reading, and fills the values the reference leaves
open (flagged "derived" per profile).
"""
import collections
import json
import re
import sys

d = json.load(open(sys.argv[1]))['gpus']
IDX = {'GPU_INSTANCE_PROFILE_1_SLICE':0,'GPU_INSTANCE_PROFILE_2_SLICE':1,'GPU_INSTANCE_PROFILE_3_SLICE':2,'GPU_INSTANCE_PROFILE_4_SLICE':3,
'GPU_INSTANCE_PROFILE_7_SLICE':4,'GPU_INSTANCE_PROFILE_8_SLICE':5,'GPU_INSTANCE_PROFILE_6_SLICE':6,'GPU_INSTANCE_PROFILE_1_SLICE_REV1':7,
'GPU_INSTANCE_PROFILE_2_SLICE_REV1':8,'GPU_INSTANCE_PROFILE_1_SLICE_REV2':9,'GPU_INSTANCE_PROFILE_1_SLICE_GFX':10,'GPU_INSTANCE_PROFILE_2_SLICE_GFX':11,
'GPU_INSTANCE_PROFILE_4_SLICE_GFX':12,'GPU_INSTANCE_PROFILE_1_SLICE_NO_ME':13,'GPU_INSTANCE_PROFILE_2_SLICE_NO_ME':14,'GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME':15,
'GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME':16,'GPU_INSTANCE_PROFILE_3_SLICE_GFX':17}
models = [
 # key, ref name, aliases, product, arch, cc, memory MiB, pci id, brand
 ('a30','A30-24GB',['a30-24gb'],'NVIDIA A30','Ampere','8.0',24576,'0x20B710DE',14),
 ('a100-40gb','A100-SXM4-40GB',['a100-sxm4-40gb','a100-pcie-40gb'],'NVIDIA A100-SXM4-40GB','Ampere','8.0',40960,'0x20B010DE',14),
 ('a100-80gb','A100-80GB',['a100-sxm4-80gb','a100','a100-pcie-80gb'],'NVIDIA A100-SXM4-80GB','Ampere','8.0',81920,'0x20B210DE',14),
 ('h100-80gb','H100-SXM5-80GB',['h100-sxm','h100-sxm5-80gb','h100'],'NVIDIA H100 80GB HBM3','Hopper','9.0',81559,'0x233010DE',14),
 ('h100-pcie','H100-PCIe-80GB',['h100-pcie-80gb'],'NVIDIA H100 PCIe','Hopper','9.0',81559,'0x233110DE',14),
 ('h100-nvl','H100-NVL-94GB',['h100-nvl-94gb','h100-94gb'],'NVIDIA H100 NVL','Hopper','9.0',95830,'0x232110DE',14),
 ('h200','H200-141GB',['h200-141gb','h200-sxm'],'NVIDIA H200','Hopper','9.0',143771,'0x233510DE',14),
 ('gh200','GH200-96GB',['gh200-96gb'],'NVIDIA GH200 480GB','Hopper','9.0',97871,'0x234210DE',14),
 ('gh200-144gb','GH200-144GB',['gh200-144g'],'NVIDIA GH200 144G HBM3e','Hopper','9.0',146944,'0x234810DE',14),
 ('b200','B200-180GB',['b200-180gb'],'NVIDIA B200','Blackwell','10.0',183359,'0x290110DE',14),
 ('gb200','GB200-186GB',['gb200-186gb'],'NVIDIA GB200','Blackwell','10.0',189471,'0x294110DE',14),
 ('rtx-pro-6000','RTX-PRO-6000-Blackwell-96GB',['rtx-pro-6000-blackwell','rtxpro6000'],'NVIDIA RTX PRO 6000 Blackwell Server Edition','Blackwell','12.0',97887,'0x2BB510DE',13),
]
# Values the reference leaves open; derived here and flagged "derived" in the catalog.
derived = {
 ('GH200-144GB','3g.72gb'): dict(memory_mib=72192, sms=60),
 ('GH200-144GB','4g.72gb'): dict(memory_mib=72192, sms=64),
 ('GH200-144GB','7g.144gb'): dict(memory_mib=144384, sms=132),
 ('B200-180GB','3g.90gb'): dict(memory_mib=90624, sms=60, dec=3, jpg=3),
 ('B200-180GB','4g.90gb'): dict(memory_mib=90624, sms=72, dec=4, jpg=4),
 ('B200-180GB','7g.180gb'): dict(memory_mib=181248, sms=144, dec=7, jpg=7),
 ('GB200-186GB','3g.93gb'): dict(memory_mib=93184, sms=60, dec=3, jpg=3),
 ('GB200-186GB','4g.93gb'): dict(memory_mib=93184, sms=72, dec=4, jpg=4),
 ('GB200-186GB','7g.186gb'): dict(memory_mib=186368, sms=152, dec=7, jpg=7),
}
# The real H200 reading (nvidia-smi mig -lgip on an H200) wins over the reference table.
h200_real_mib = {'1g.18gb':16384,'1g.18gb+me':16384,'1g.35gb':33280,'2g.35gb':33280,'3g.71gb':71424,'4g.71gb':71424,'7g.141gb':143360}
out = []
for key, ref, aliases, product, arch, cc, mib, pci, brand in models:
  g = d[ref]
  profs = []
  for p in g['profiles']:
    e = p['engines']
    q = collections.OrderedDict()
    q['name'] = p['name']; q['id'] = p['id']; q['index'] = IDX[p['nvml_profile_index']]
    q['compute_slices'] = p['compute_slices']; q['memory_slices'] = p['memory_slices']
    q['sms'] = p['sms']; q['memory_mib'] = p['memory_mib']
    q['ce'] = e['copy_engines']; q['dec'] = e['nvdec']; q['enc'] = e['nvenc']; q['jpg'] = e['nvjpg']; q['ofa'] = e['ofa']
    q['instances'] = p['instances']
    q['placements'] = p['placements']
    dv = derived.get((ref, p['name']))
    if dv:
      for k2, v in dv.items(): q[k2] = v
      q['derived'] = sorted(dv.keys())
    if ref == 'H200-141GB':
      q['memory_mib'] = h200_real_mib[p['name']]
    for k2 in ('sms','memory_mib','ce','dec','enc','jpg','ofa'):
      assert q[k2] is not None, (ref, p['name'], k2)
    profs.append(q)
  m = collections.OrderedDict(key=key, aliases=aliases, reference=ref, product_name=product, architecture=arch,
       compute_capability=cc, memory_mib=mib, pci_device_id=pci, brand=brand,
       grid_units=g['placement_grid_units'], compute_slices=g['compute_slices_total'], memory_slices=g['memory_slices_total'], profiles=profs)
  out.append(m)
meta = {"source": "Derived from a table of MIG profiles (NVIDIA MIG user guide, real nvidia-smi mig -lgip/-lgipp readings), given as the first argument of src/gpu/make_catalog.py; H200 memory from a real H200 reading (nvidia-smi mig -lgip). Profiles with a 'derived' list carry values the reference leaves open (B200/GB200/GH200-144GB 3g/4g/7g memory, SMs, engines), derived by analogy with sibling profiles (memory: two or four times the two-memory-slice profile, so that the 7g profile's memory covers every layout; 7g SMs at least the SMs of any layout: 3 x 2g + 1g.47gb = 146 on GB200). memory_mib of a model is chosen so that go-nvlib's name formula reproduces every profile name.",
  "fields": "id = NVML GI profile id; index = NVML_GPU_INSTANCE_PROFILE_* index; placements = [start, size] on the grid; ce/dec/enc/jpg/ofa = copy engines, decoders, encoders, JPEG, OFA; instances = NVML instanceCount; brand = nvmlBrandType_t"}
s = json.dumps({"_meta": meta, "models": out}, indent=1)
# compact placements onto one line
s = re.sub(r'\[\n\s+(\d+),\n\s+(\d+)\n\s+\]', r'[\1, \2]', s)
open(sys.argv[2], 'w').write(s + '\n')
