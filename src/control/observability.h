// What serve shows of its GPUs besides the Kubernetes API, added to the ApiHandler as extra routes
// (all behind the API's bearer token except the page shell):
//   GET /metrics                 Prometheus text format (control/metrics.h)
//   GET /migdra/v1/partitionmap  the partition map as JSON (control/partition_map.h)
//   GET /ui/partitions           the live partition map page (HTML/CSS/JS, no data in it); the
//                                HTTP layer serves /ui/ without a token, the page's API calls
//                                carry it
// and API request counts and latency recorded into `metrics`.
//
// Thread safety: the routes run on the server's threads; `store` and `metrics` must outlive the
// handler.
#pragma once

#include "control/api_handler.h"
#include "control/metrics.h"

namespace migdra::control {

void AddObservabilityRoutes(ApiHandler& handler, const Store& store, ServeMetrics& metrics);

// The page's HTML (partition_map_page.cc).
const char* PartitionMapPage();

}  // namespace migdra::control
