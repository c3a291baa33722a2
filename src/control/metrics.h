// serve's Prometheus metrics (GET /metrics, same bearer token as the API): the API server's
// request counters and latency (apiserver_request_total / apiserver_request_duration_seconds, as
// Kubernetes names them), and the partition map as gauges — per GPU and node, compute and memory
// slices allocated / free / stranded, live partitions per profile, how many more of each profile
// fit, pending claims and how long they wait, and scheduling latency — plus what the added
// sources render (serve adds the DRA driver's metrics of its own node). Definitions:
// partition_map.h and docs/observability.md.
//
// Labels: gpu (the GPU's index, as DCGM exporter's "gpu"), UUID (the GPU's UUID), GPU_I_PROFILE
// (the MIG profile, e.g. "1g.10gb"), GPU_I_ID (not known to serve: the GI id is the driver's),
// node, and dra_claim / dra_namespace / dra_device / dra_driver / dra_pool on per-partition series.
//
// Thread safety: ObserveRequest and Render may be called concurrently.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/prometheus.h"
#include "control/store.h"

namespace migdra::control {

class ServeMetrics {
 public:
  ServeMetrics();

  // Records one answered API request. `method` and `path` as received; `watch` when the
  // request asked for a watch.
  void ObserveRequest(const std::string& method, const std::string& path, bool watch, int status,
                      double seconds);

  // Text (format 0.0.4) appended to every exposition; added before serving starts.
  void AddSource(std::function<std::string()> source) { sources_.push_back(std::move(source)); }

  // The full exposition (text format 0.0.4) as of now.
  std::string Render(const Store& store) const;

 private:
  std::vector<std::function<std::string()>> sources_;
  prometheus::CounterVec requests_;
  prometheus::HistogramVec request_duration_;
};

// The Kubernetes verb and resource of a request ("list", "pods"), as the API server labels its
// metrics; resource "" for non-resource paths.
std::pair<std::string, std::string> RequestVerbAndResource(const std::string& method,
                                                           const std::string& path, bool watch);

}  // namespace migdra::control
