#include "control/metrics.h"

#include <algorithm>
#include <functional>
#include <sstream>
#include <vector>

#include "control/json_access.h"
#include "control/partition_map.h"
#include "control/resources.h"

namespace migdra::control {
namespace {

using json = nlohmann::json;
using prometheus::Labels;
using prometheus::TextWriter;

// The non-empty segments of a URL path.
std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(path);
  for (std::string segment; std::getline(in, segment, '/');) {
    if (!segment.empty()) out.push_back(segment);
  }
  return out;
}

std::string GpuIndex(const json& gpu) { return std::to_string(gpu.value("index", 0)); }

void WritePartitionMap(const json& map, TextWriter& w) {
  struct Family {
    const char* name;
    const char* type;
    const char* help;
  };
  auto family = [&w](const Family& f) { w.Family(f.name, f.type, f.help); };
  auto each_gpu = [&map](auto fn) {
    for (const json& node : map["nodes"]) {
      for (const json& gpu : node["gpus"]) {
        fn(node, gpu,
           Labels{{"node", Str(node, "name")},
                  {"gpu", GpuIndex(gpu)},
                  {"UUID", Str(gpu, "uuid")},
                  {"modelName", Str(gpu, "product")}});
      }
    }
  };
  auto count_slices = [](const json& gpu, const std::string& state) {
    return static_cast<double>(std::count(gpu["slices"].begin(), gpu["slices"].end(), state));
  };

  family({"migdra_gpu_memory_slices", "gauge", "Memory slices of the GPU (MIG grid units)."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    w.Sample("migdra_gpu_memory_slices", l, gpu.value("memorySlices", 0));
  });
  family({"migdra_gpu_memory_slices_allocated", "gauge",
          "Memory slices consumed by allocated partitions."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    w.Sample("migdra_gpu_memory_slices_allocated", l, count_slices(gpu, "allocated"));
  });
  family({"migdra_gpu_memory_slices_free", "gauge",
          "Memory slices no allocated partition consumes (stranded ones included)."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    w.Sample("migdra_gpu_memory_slices_free", l,
             count_slices(gpu, "free") + count_slices(gpu, "stranded"));
  });
  family({"migdra_gpu_memory_slices_stranded", "gauge",
          "Free memory slices that no device placeable now consumes."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    w.Sample("migdra_gpu_memory_slices_stranded", l, count_slices(gpu, "stranded"));
  });
  family({"migdra_gpu_compute_slices", "gauge", "Compute slices (GPCs) of the GPU."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    w.Sample("migdra_gpu_compute_slices", l, gpu.value("computeSlices", 0));
  });
  family({"migdra_gpu_compute_slices_allocated", "gauge",
          "Compute slices held by allocated partitions."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    w.Sample("migdra_gpu_compute_slices_allocated", l, gpu.value("computeSlicesAllocated", 0));
  });
  family(
      {"migdra_gpu_compute_slices_free", "gauge", "Compute slices no allocated partition holds."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    w.Sample("migdra_gpu_compute_slices_free", l,
             gpu.value("computeSlices", 0) - gpu.value("computeSlicesAllocated", 0));
  });

  family({"migdra_partitions", "gauge", "Allocated partitions by GPU and profile."});
  each_gpu([&](const json&, const json& gpu, const Labels& l) {
    std::map<std::string, int> by_profile;
    for (const json& p : gpu["partitions"]) ++by_profile[Str(p, "profile")];
    for (const auto& [profile, n] : by_profile) {
      Labels with = l;
      with.emplace_back("GPU_I_PROFILE", profile);
      w.Sample("migdra_partitions", with, n);
    }
  });
  family({"migdra_partition_info", "gauge",
          "One series per allocated partition: where it is and who holds it (value 1)."});
  each_gpu([&](const json& node, const json& gpu, const Labels& l) {
    for (const json& p : gpu["partitions"]) {
      Labels with = l;
      with.emplace_back("GPU_I_PROFILE", Str(p, "profile"));
      with.emplace_back("start", std::to_string(p.value("start", 0)));
      with.emplace_back("dra_claim", Str(p, "claim"));
      with.emplace_back("dra_namespace", Str(p, "namespace"));
      with.emplace_back("dra_device", Str(p, "device"));
      with.emplace_back("dra_pool", Str(node, "name"));
      with.emplace_back("pod", Str(p, "pod"));
      w.Sample("migdra_partition_info", with, 1);
    }
  });

  // Per node: the sums of the per-GPU families above.
  struct NodeFamily {
    Family family;
    std::function<double(const json&)> per_gpu;
  };
  const std::vector<NodeFamily> node_families = {
      {{"migdra_node_memory_slices_allocated", "gauge",
        "Memory slices consumed by allocated partitions on the node."},
       [&](const json& g) { return count_slices(g, "allocated"); }},
      {{"migdra_node_memory_slices_free", "gauge", "Free memory slices on the node."},
       [&](const json& g) { return count_slices(g, "free") + count_slices(g, "stranded"); }},
      {{"migdra_node_memory_slices_stranded", "gauge", "Stranded memory slices on the node."},
       [&](const json& g) { return count_slices(g, "stranded"); }},
      {{"migdra_node_compute_slices_allocated", "gauge",
        "Compute slices held by allocated partitions on the node."},
       [](const json& g) { return g.value("computeSlicesAllocated", 0.0); }},
      {{"migdra_node_compute_slices_free", "gauge", "Free compute slices on the node."},
       [](const json& g) {
         return g.value("computeSlices", 0.0) - g.value("computeSlicesAllocated", 0.0);
       }},
  };
  for (const NodeFamily& f : node_families) {
    family(f.family);
    for (const json& node : map["nodes"]) {
      double sum = 0;
      for (const json& gpu : node["gpus"]) sum += f.per_gpu(gpu);
      w.Sample(f.family.name, {{"node", Str(node, "name")}}, sum);
    }
  }

  family({"migdra_node_profile_fits", "gauge",
          "How many more partitions of the profile could be allocated on the node now."});
  for (const json& node : map["nodes"]) {
    for (const auto& [profile, n] : node["fits"].items()) {
      w.Sample("migdra_node_profile_fits",
               {{"node", Str(node, "name")}, {"GPU_I_PROFILE", profile}}, n.get<double>());
    }
  }

  family({"migdra_pending_claims", "gauge", "ResourceClaims without an allocation."});
  w.Sample("migdra_pending_claims", {}, static_cast<double>(map["pending"].size()));
  family({"migdra_pending_claim_wait_seconds", "gauge",
          "How long each pending ResourceClaim has existed without an allocation."});
  for (const json& p : map["pending"]) {
    w.Sample("migdra_pending_claim_wait_seconds",
             {{"dra_namespace", Str(p, "namespace")}, {"dra_claim", Str(p, "claim")}},
             p.value("waitingSeconds", 0));
  }
}

// Scheduling latency of the pods that exist now: from creation to PodScheduled=True (seconds;
// the timestamps have one-second resolution).
void WriteSchedulingLatency(const Store& store, TextWriter& w) {
  std::string pods_key;
  for (const ResourceInfo& r : AllResources()) {
    if (r.plural == "pods") pods_key = r.StoreKey();
  }
  double sum = 0, max = 0, count = 0;
  for (const json& pod : store.List(pods_key, "")) {
    for (const json& c : Field(pod, {"status"}).value("conditions", json::array())) {
      if (Str(c, "type") != "PodScheduled" || Str(c, "status") != "True") continue;
      long long created = SecondsSince(Str(pod["metadata"], "creationTimestamp"));
      long long scheduled = SecondsSince(Str(c, "lastTransitionTime"));
      if (created < 0 || scheduled < 0) continue;
      double latency = static_cast<double>(std::max(0LL, created - scheduled));
      sum += latency;
      max = std::max(max, latency);
      ++count;
    }
  }
  w.Family("migdra_scheduled_pods", "gauge", "Pods that exist now and have been scheduled.");
  w.Sample("migdra_scheduled_pods", {}, count);
  w.Family("migdra_scheduling_latency_seconds_sum", "gauge",
           "Sum over the scheduled pods that exist now of creation-to-PodScheduled seconds.");
  w.Sample("migdra_scheduling_latency_seconds_sum", {}, sum);
  w.Family("migdra_scheduling_latency_seconds_max", "gauge",
           "Longest creation-to-PodScheduled seconds among the scheduled pods that exist now.");
  w.Sample("migdra_scheduling_latency_seconds_max", {}, max);
}

}  // namespace

std::pair<std::string, std::string> RequestVerbAndResource(const std::string& method,
                                                           const std::string& path, bool watch) {
  std::vector<std::string> s = Segments(path);
  // /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] or /apis/GROUP/VERSION/...
  size_t base = 0;
  if (!s.empty() && s[0] == "api") base = 2;
  if (!s.empty() && s[0] == "apis") base = 3;
  std::string resource;
  bool named = false;
  if (base > 0 && s.size() > base) {
    size_t i = base;
    if (s[i] == "namespaces" && s.size() > i + 2) i += 2;
    resource = s[i];
    named = s.size() > i + 1;
    if (s.size() > i + 2) resource += "/" + s[i + 2];
  }
  std::string verb;
  if (watch) {
    verb = "WATCH";
  } else if (method == "GET") {
    verb = resource.empty() || named ? "GET" : "LIST";
  } else if (method == "POST") {
    verb = "POST";
  } else if (method == "PUT") {
    verb = "PUT";
  } else if (method == "PATCH") {
    verb = "PATCH";
  } else if (method == "DELETE") {
    verb = named ? "DELETE" : "DELETECOLLECTION";
  } else {
    verb = method;
  }
  return {verb, resource};
}

ServeMetrics::ServeMetrics()
    : requests_("apiserver_request_total",
                "Counter of apiserver requests broken out for each verb, resource and HTTP "
                "response code.",
                {"verb", "resource", "code"}),
      request_duration_("apiserver_request_duration_seconds",
                        "Response latency distribution in seconds for each verb and resource.",
                        {"verb", "resource"},
                        {0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5,
                         2,     3,    4,     5,    6,   8,   10,  15,  20,  30,  45,   60}) {}

void ServeMetrics::ObserveRequest(const std::string& method, const std::string& path, bool watch,
                                  int status, double seconds) {
  auto [verb, resource] = RequestVerbAndResource(method, path, watch);
  requests_.Inc({verb, resource, std::to_string(status)});
  // As the API server does, long-running watches are counted but not timed.
  if (!watch) request_duration_.Observe({verb, resource}, seconds);
}

std::string ServeMetrics::Render(const Store& store) const {
  TextWriter w;
  WritePartitionMap(BuildPartitionMap(store), w);
  WriteSchedulingLatency(store, w);
  requests_.Write(w);
  request_duration_.Write(w);
  std::string text = w.str();
  for (const auto& source : sources_) text += source();
  return text;
}

}  // namespace migdra::control
