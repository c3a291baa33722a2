#include "control/observability.h"

#include "control/http_request.h"
#include "control/partition_map.h"

namespace migdra::control {
namespace {

ApiResponse Text(const std::string& content_type, std::string body) {
  ApiResponse r;
  r.content_type = content_type;
  r.body = std::move(body);
  return r;
}

}  // namespace

void AddObservabilityRoutes(ApiHandler& handler, const Store& store, ServeMetrics& metrics) {
  handler.AddRoute([&store, &metrics](const ApiRequest& request) -> std::optional<ApiResponse> {
    if (request.method != "GET") return std::nullopt;
    if (request.path == "/metrics") {
      return Text("text/plain; version=0.0.4; charset=utf-8", metrics.Render(store));
    }
    if (request.path == "/migdra/v1/partitionmap") {
      return Text("application/json", BuildPartitionMap(store).dump());
    }
    if (request.path == "/ui/partitions" || request.path == "/ui/partitions/") {
      ApiResponse page = Text("text/html; charset=utf-8", PartitionMapPage());
      page.headers.emplace_back("Content-Security-Policy",
                                "default-src 'self'; script-src 'unsafe-inline'; "
                                "style-src 'unsafe-inline'");
      page.headers.emplace_back("Cache-Control", "no-store");
      return page;
    }
    return std::nullopt;
  });
  handler.SetRequestObserver([&metrics](const ApiRequest& request, const ApiResponse& response,
                                        double seconds) {
    // As the API server's request metrics count a WATCH: a watch, or any GET whose ?watch is
    // true (a named object's too); another method's ?watch is not looked at.
    const bool watch = response.watch.has_value() ||
                       (request.method == "GET" && QueryBool(QueryValue(request.query, "watch")));
    metrics.ObserveRequest(request.method, request.path, watch, response.status, seconds);
  });
}

}  // namespace migdra::control
