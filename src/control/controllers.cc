#include "control/controllers.h"

#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "common/guard.h"
#include "control/controller_support.h"
#include "control/json_access.h"
#include "control/object_meta.h"
#include "control/objects.h"

namespace migdra::control {

const ResourceInfo& Info(const std::string& plural) {
  for (const ResourceInfo& r : AllResources()) {
    if (r.plural == plural) return r;
  }
  return AllResources().front();
}

std::vector<json> ListAll(Store& store, const std::string& plural) {
  return store.List(Info(plural).StoreKey(), "");
}

DeleteOptions BackgroundDelete() {
  DeleteOptions options;
  options.propagation = "Background";
  return options;
}

int IntOr(const json& j, const char* key, int fallback) {
  const json& v = Field(j, {key});
  if (!v.is_number_integer()) return fallback;
  const int64_t i = v.get<int64_t>();
  return i < INT32_MIN || i > INT32_MAX ? fallback : static_cast<int>(i);
}

const json& PodClaims(const json& pod) { return ArrayAt(pod, {"spec", "resourceClaims"}); }

std::string ClaimNameFor(const json& pod, const json& entry) {
  std::string direct = Str(entry, "resourceClaimName");
  if (!direct.empty()) return direct;
  for (const json& s : ArrayAt(pod, {"status", "resourceClaimStatuses"})) {
    if (Str(s, "name") == Str(entry, "name")) return Str(s, "resourceClaimName");
  }
  return "";
}

bool ControllerWrite(Store& store, const std::string& plural, json object) {
  const ResourceInfo& info = Info(plural);
  const int64_t version = ParseVersion(Str(Field(object, {"metadata"}), "resourceVersion"));
  const std::string ns = info.namespaced ? Ns(object) : "";
  if (Deleting(object) && Field(object, {"metadata", "finalizers"}).is_null() &&
      plural != "namespaces") {
    return store.Delete(info.StoreKey(), ns, Name(object), version).ok();
  }
  return store.Update(info.StoreKey(), std::move(object), version).ok();
}

void ReportFailure(Store& store, const json& object, const std::string& component,
                   const std::string& what) {
  static std::mutex mu;
  static std::set<std::string> reported;
  const std::string key = Uid(object) + "/" + Str(Field(object, {"metadata"}), "resourceVersion") +
                          "/" + component + ": " + what;
  {
    std::lock_guard lock(mu);
    if (reported.size() > 10000) reported.clear();
    if (!reported.insert(key).second) return;
  }
  std::fprintf(stderr, "migdra serve: %s: %s %s/%s: %s\n", component.c_str(),
               Str(object, "kind").c_str(), Ns(object).c_str(), Name(object).c_str(), what.c_str());
  RecordEvent(store, object, "Warning", "FailedSync", component + ": " + what, component);
}

void RecordEvent(Store& store, const json& object, const std::string& type,
                 const std::string& reason, const std::string& message,
                 const std::string& component) {
  (void)CreateObject(store, Info("events"), MakeEvent(object, type, reason, message, component));
}

Controllers::Controllers(Store& store, ControllerOptions options)
    : store_(store), options_(options) {}

Controllers::~Controllers() { Stop(); }

void Controllers::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Controllers::Stop() {
  stop_ = true;
  store_.WakeAll();
  if (thread_.joinable()) thread_.join();
}

void Controllers::Loop() {
  int64_t seen = -1;
  while (!stop_) {
    int64_t now = store_.CurrentVersion();
    if (now == seen) {
      store_.WaitForVersion(seen, std::chrono::milliseconds(1000));
      if (stop_) break;
    }
    seen = store_.CurrentVersion();
    ReconcileOnce();
  }
}

void Controllers::ReconcileOnce() {
  const std::pair<const char*, void (Controllers::*)()> controllers[] = {
      {"job-controller", &Controllers::SyncJobs},
      {"resourceclaim-controller", &Controllers::SyncTemplateClaims},
      {"default-scheduler", &Controllers::Schedule},
      {"resourceclaim-controller", &Controllers::SyncClaims},
      {"garbage-collector", &Controllers::CollectGarbage},
  };
  for (const auto& [component, pass] : controllers) {
    RunGuarded([&] { (this->*pass)(); },
               [&](const std::string& what) {
                 std::fprintf(stderr, "migdra serve: %s: pass failed: %s\n", component,
                              what.c_str());
               });
  }
}

void Controllers::ForObject(const json& object, const char* component,
                            const std::function<void()>& work) {
  RunGuarded(work,
             [&](const std::string& what) { ReportFailure(store_, object, component, what); });
}

}  // namespace migdra::control
