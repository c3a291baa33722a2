#include "kube/slice_publisher.h"

#include <map>

namespace migdra::kube {
namespace {

std::string SanitizedName(const std::string& s) {
  std::string out;
  for (char c : s) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c))
                                                              : '-');
  }
  return out;
}

Error HttpError(const std::string& what, const Response& r) {
  std::string message = r.body;
  try {
    auto j = nlohmann::json::parse(r.body);
    if (j.contains("message") && j["message"].is_string()) message = j["message"];
  } catch (const std::exception&) {
  }
  return MakeError(what + ": HTTP " + std::to_string(r.status) + ": " + message);
}

}  // namespace

SlicePublisher::SlicePublisher(Client* client, std::string driver, std::string node_name)
    : client_(client), driver_(std::move(driver)), node_name_(std::move(node_name)) {}

Result<std::vector<nlohmann::json>> SlicePublisher::ListOwn() {
  const std::string selector = "spec.nodeName=" + node_name_ + ",spec.driver=" + driver_;
  MIGDRA_ASSIGN_OR_RETURN(Response r, client_->Get(std::string(kResourceSlicesPath) +
                                                   "?fieldSelector=" + QueryEscape(selector)));
  if (!r.ok()) return HttpError("list resourceslices", r);
  std::vector<nlohmann::json> own;
  try {
    auto list = nlohmann::json::parse(r.body);
    for (auto& item : list.value("items", nlohmann::json::array())) {
      // Servers that ignore field selectors still return only what matches here.
      const auto& spec = item.value("spec", nlohmann::json::object());
      if (spec.value("driver", "") == driver_ && spec.value("nodeName", "") == node_name_) {
        own.push_back(std::move(item));
      }
    }
  } catch (const std::exception& e) {
    return MakeError(std::string("list resourceslices: bad JSON: ") + e.what());
  }
  return own;
}

Result<PublishStats> SlicePublisher::Publish(std::vector<nlohmann::json> desired) {
  try {
    return PublishOnce(std::move(desired));
  } catch (const std::exception& e) {
    return MakeError(std::string("publishing resourceslices: ") + e.what());
  }
}

Result<PublishStats> SlicePublisher::PublishOnce(std::vector<nlohmann::json> desired) {
  PublishStats stats;
  for (size_t i = 0; i < desired.size(); ++i) {
    auto& meta = desired[i]["metadata"];
    if (!meta.is_object()) meta = nlohmann::json::object();
    if (meta.value("name", "").empty()) {
      meta["name"] = SanitizedName(node_name_ + "-" + driver_ + "-" + std::to_string(i));
    }
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    MIGDRA_ASSIGN_OR_RETURN(auto existing, ListOwn());
    std::map<std::string, nlohmann::json> by_name;
    for (auto& e : existing) {
      // json's operator= takes its argument by value, which would move `e` before the key is
      // read; so read the key first.
      std::string name = e["metadata"].value("name", "");
      by_name[name] = std::move(e);
    }
    bool conflict = false;
    PublishStats round;
    for (const auto& want : desired) {
      const std::string name = want["metadata"]["name"];
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        MIGDRA_ASSIGN_OR_RETURN(Response r, client_->Create(kResourceSlicesPath, want.dump()));
        if (r.status == 409) {
          conflict = true;
          continue;
        }
        if (!r.ok()) return HttpError("create resourceslice " + name, r);
        round.created++;
        continue;
      }
      nlohmann::json have = std::move(it->second);
      by_name.erase(it);
      if (have.value("spec", nlohmann::json()) == want["spec"]) {
        round.unchanged++;
        continue;
      }
      nlohmann::json update = want;
      update["metadata"]["resourceVersion"] = have["metadata"].value("resourceVersion", "");
      MIGDRA_ASSIGN_OR_RETURN(
          Response r,
          client_->Update(std::string(kResourceSlicesPath) + "/" + name, update.dump()));
      if (r.status == 409) {
        conflict = true;
        continue;
      }
      if (!r.ok()) return HttpError("update resourceslice " + name, r);
      round.updated++;
    }
    for (const auto& [name, stale] : by_name) {
      MIGDRA_ASSIGN_OR_RETURN(Response r,
                              client_->Delete(std::string(kResourceSlicesPath) + "/" + name));
      if (!r.ok() && r.status != 404) return HttpError("delete resourceslice " + name, r);
      round.deleted++;
    }
    stats.created += round.created;
    stats.updated += round.updated;
    stats.deleted += round.deleted;
    stats.unchanged = round.unchanged;
    if (!conflict) return stats;
  }
  return MakeError("resourceslices of " + node_name_ + " kept conflicting; gave up after 5 rounds");
}

}  // namespace migdra::kube
