// The partition map page (GET /ui/partitions), plain HTML/CSS/JS embedded in the binary. The page
// itself holds no data and is served without a token; it takes the API token from the URL
// fragment (#token=..., never sent to the server) or asks for it, then reads
// /migdra/v1/partitionmap with the Authorization header and re-reads it whenever a watch on
// ResourceClaims or Pods reports a change.
#include "control/observability.h"

namespace migdra::control {

const char* PartitionMapPage() {
  return R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>migdra · partition map</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1d232a; background: #f7f8fa; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2 { font-size: 16px; margin: 20px 0 6px; }
  .muted { color: #66707a; }
  .legend span { display: inline-block; margin-right: 14px; }
  .legend i { display: inline-block; width: 14px; height: 14px; vertical-align: -2px; margin-right: 4px; border-radius: 3px; }
  .gpu { display: grid; grid-template-columns: 230px 1fr; gap: 10px; align-items: stretch; margin: 6px 0; }
  .gpu-label { font-size: 12px; padding-top: 6px; }
  .gpu-label b { font-size: 14px; }
  .slices { display: grid; gap: 3px; min-height: 64px; }
  .partition { border-radius: 5px; padding: 4px 6px; font-size: 12px; overflow: hidden; color: #fff; background: #2f6fb5; }
  .partition .profile { font-weight: 600; }
  .partition[data-profile^="2g"] { background: #3d8b5a; }
  .partition[data-profile^="3g"] { background: #8a5bb0; }
  .partition[data-profile^="4g"] { background: #b0743a; }
  .partition[data-profile^="7g"], .partition[data-profile="gpu"] { background: #4b5563; }
  .slice { border-radius: 5px; font-size: 11px; display: flex; align-items: center; justify-content: center; }
  .slice.free { border: 2px dashed #37a169; color: #2f855a; background: #f0fff4; }
  .slice.stranded { border: 2px solid #c53030; color: #9b2c2c;
    background: repeating-linear-gradient(45deg, #fff5f5, #fff5f5 6px, #fed7d7 6px, #fed7d7 12px); }
  table { border-collapse: collapse; background: #fff; }
  td, th { border: 1px solid #d9dde2; padding: 4px 8px; text-align: left; font-size: 13px; }
  #status.error { color: #c53030; }
  form { margin: 20px 0; }
</style>
</head>
<body>
<h1>GPU partitions</h1>
<div class="muted"><span id="status">connecting…</span></div>
<div id="login" hidden>
  <form id="token-form">API token: <input id="token" type="password" size="50"> <button>Show</button></form>
</div>
<div class="legend" id="legend" hidden>
  <span><i style="background:#2f6fb5"></i>partition (profile, pod, namespace, age)</span>
  <span><i style="border:2px dashed #37a169;background:#f0fff4"></i>free slice</span>
  <span><i style="border:2px solid #c53030;background:#fed7d7"></i>stranded slice: free, but no profile can use it now</span>
</div>
<div id="map"></div>
<h2>Pending claims</h2>
<div id="pending"></div>
<script>
"use strict";
let token = "";
let map = null;
let fetchedAt = 0;
let refreshTimer = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function age(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 120) return seconds + "s";
  if (seconds < 7200) return Math.floor(seconds / 60) + "m";
  if (seconds < 172800) return Math.floor(seconds / 3600) + "h";
  return Math.floor(seconds / 86400) + "d";
}

function setStatus(text, error) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function render() {
  if (!map) return;
  const elapsed = (Date.now() - fetchedAt) / 1000;
  const root = document.getElementById("map");
  root.replaceChildren();
  let partitions = 0, free = 0, stranded = 0;
  for (const node of map.nodes) {
    const fits = Object.entries(node.fits).filter(([, n]) => n > 0).map(([p, n]) => p + " ×" + n).join(", ");
    root.append(el("h2", {}, "Node " + node.name),
                el("div", {class: "muted fits", "data-node": node.name}, "fits now: " + (fits || "nothing")));
    for (const gpu of node.gpus) {
      const grid = el("div", {class: "slices", style: "grid-template-columns: repeat(" + gpu.memorySlices + ", 1fr)"});
      for (const p of gpu.partitions) {
        partitions++;
        grid.append(el("div", {class: "partition", "data-gpu": gpu.index, "data-profile": p.profile,
                               "data-start": p.start, "data-size": p.size, "data-pod": p.pod,
                               "data-namespace": p.namespace, "data-claim": p.claim,
                               title: p.device + " · claim " + p.namespace + "/" + p.claim,
                               style: "grid-column: " + (p.start + 1) + " / span " + p.size},
                        el("div", {class: "profile"}, p.profile),
                        el("div", {}, p.pod || p.claim),
                        el("div", {}, p.namespace + " · " + age(p.ageSeconds + elapsed))));
      }
      gpu.slices.forEach((state, i) => {
        if (state === "allocated") return;
        if (state === "free") free++; else stranded++;
        grid.append(el("div", {class: "slice " + state, "data-gpu": gpu.index, "data-slice": i,
                               style: "grid-column: " + (i + 1) + " / span 1"}, state));
      });
      root.append(el("div", {class: "gpu", "data-gpu": gpu.index},
                     el("div", {class: "gpu-label"}, el("b", {}, "GPU " + gpu.index), " " + gpu.product,
                        el("br"), el("span", {class: "muted"}, gpu.uuid),
                        el("br"), "compute " + gpu.computeSlicesAllocated + "/" + gpu.computeSlices +
                        " · memory slices " + gpu.memorySlices),
                     grid));
    }
  }
  const pending = document.getElementById("pending");
  if (map.pending.length === 0) {
    pending.replaceChildren(el("div", {class: "muted"}, "none"));
  } else {
    const table = el("table", {id: "pending-table"},
                     el("tr", {}, el("th", {}, "namespace"), el("th", {}, "claim"), el("th", {}, "pod"),
                        el("th", {}, "waiting"), el("th", {}, "why")));
    for (const p of map.pending) {
      table.append(el("tr", {class: "pending", "data-claim": p.claim, "data-pod": p.pod},
                      el("td", {}, p.namespace), el("td", {}, p.claim), el("td", {}, p.pod),
                      el("td", {}, age(p.waitingSeconds + elapsed)), el("td", {}, p.reason)));
    }
    pending.replaceChildren(table);
  }
  setStatus(partitions + " partitions · " + free + " free slices · " + stranded +
            " stranded · " + map.pending.length + " pending · live");
  document.body.dataset.partitions = partitions;
  document.body.dataset.pending = map.pending.length;
}

async function api(path, init) {
  const response = await fetch(path, Object.assign({headers: {Authorization: "Bearer " + token}}, init || {}));
  if (response.status === 401) throw new Error("the token was refused");
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response;
}

async function refresh() {
  try {
    map = await (await api("/migdra/v1/partitionmap")).json();
    fetchedAt = Date.now();
    render();
    document.body.dataset.loaded = "true";
  } catch (e) {
    setStatus(String(e.message || e), true);
  }
}

function refreshSoon() {
  if (refreshTimer === null) refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
}

// Any watch event on these kinds may change the map; each event triggers one debounced re-read.
async function watch(path) {
  for (;;) {
    try {
      const list = await (await api(path)).json();
      const rv = list.metadata.resourceVersion;
      const response = await api(path + "?watch=true&allowWatchBookmarks=false&resourceVersion=" + rv);
      const reader = response.body.getReader();
      for (;;) {
        const {done} = await reader.read();
        if (done) break;
        refreshSoon();
      }
    } catch (e) {
      setStatus(String(e.message || e), true);
      await new Promise(r => setTimeout(r, 2000));
    }
  }
}

function start() {
  document.getElementById("login").hidden = true;
  document.getElementById("legend").hidden = false;
  refresh();
  watch("/apis/resource.k8s.io/v1/resourceclaims");
  watch("/api/v1/pods");
  watch("/apis/resource.k8s.io/v1/resourceslices");
  setInterval(render, 1000);  // ages advance without asking the server
}

const fragment = new URLSearchParams(location.hash.slice(1));
token = fragment.get("token") || sessionStorage.getItem("migdra-token") || "";
if (fragment.get("token")) {
  sessionStorage.setItem("migdra-token", token);
  history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
}
if (token) {
  start();
} else {
  document.getElementById("login").hidden = false;
  setStatus("enter the API token (the token file in serve's data directory)");
  document.getElementById("token-form").addEventListener("submit", ev => {
    ev.preventDefault();
    token = document.getElementById("token").value.trim();
    sessionStorage.setItem("migdra-token", token);
    start();
  });
}
</script>
</body>
</html>
)HTML";
}

}  // namespace migdra::control
