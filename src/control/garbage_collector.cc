// The garbage collector (controllers.h): dependents of deleted owners, foreground and orphan
// deletion, namespace deletion.
#include "control/controllers.h"

#include <map>

#include "control/controller_support.h"
#include "control/json_access.h"
#include "control/object_meta.h"
#include "control/objects.h"

namespace migdra::control {

void Controllers::CollectGarbage() {
  struct Entry {
    std::string plural;
    json object;
  };
  std::vector<Entry> all;
  std::map<std::string, size_t> by_uid;
  for (const ResourceInfo& info : AllResources()) {
    if (info.plural == "events") continue;
    for (json& o : store_.List(info.StoreKey(), "")) {
      by_uid[Uid(o)] = all.size();
      all.push_back({info.plural, std::move(o)});
    }
  }
  std::map<std::string, int> dependents;  // owner uid -> live dependents
  for (Entry& e : all) {
    ForObject(e.object, "garbage-collector", [&] {
      const json& refs = ArrayAt(e.object, {"metadata", "ownerReferences"});
      if (refs.empty()) return;
      bool any_owner = false;
      bool owner_foreground = false;
      json kept_refs = json::array();
      bool orphaned = false;
      for (const json& ref : refs) {
        auto it = by_uid.find(Str(ref, "uid"));
        if (it == by_uid.end()) continue;
        const json& owner = all[it->second].object;
        if (Deleting(owner) && HasFinalizer(owner, "orphan")) {
          orphaned = true;
          continue;
        }
        any_owner = true;
        kept_refs.push_back(ref);
        if (Deleting(owner) && HasFinalizer(owner, "foregroundDeletion")) owner_foreground = true;
        dependents[Str(ref, "uid")]++;
      }
      if (orphaned) {
        json o = e.object;
        if (kept_refs.empty()) {
          o["metadata"].erase("ownerReferences");
        } else {
          o["metadata"]["ownerReferences"] = kept_refs;
        }
        ControllerWrite(store_, e.plural, o);
        return;
      }
      if ((!any_owner || owner_foreground) && !Deleting(e.object)) {
        (void)DeleteObject(store_, Info(e.plural), Ns(e.object), Name(e.object),
                           BackgroundDelete());
      }
    });
  }
  for (Entry& e : all) {
    ForObject(e.object, "garbage-collector", [&] {
      if (!Deleting(e.object)) return;
      json o = e.object;
      if (HasFinalizer(o, "foregroundDeletion") && dependents[Uid(o)] == 0) {
        RemoveFinalizer(o, "foregroundDeletion");
      }
      if (HasFinalizer(o, "orphan")) {
        bool has_dependents = false;
        for (const Entry& d : all) {
          for (const json& ref : ArrayAt(d.object, {"metadata", "ownerReferences"})) {
            has_dependents = has_dependents || Str(ref, "uid") == Uid(o);
          }
        }
        if (!has_dependents) RemoveFinalizer(o, "orphan");
      }
      if (e.plural == "namespaces") {
        bool empty = true;
        for (const ResourceInfo& info : AllResources()) {
          if (!info.namespaced) continue;
          for (const json& child : store_.List(info.StoreKey(), Name(o))) {
            empty = false;
            if (!Deleting(child))
              (void)DeleteObject(store_, info, Name(o), Name(child), BackgroundDelete());
          }
        }
        if (empty) {
          (void)store_.Delete("namespaces", "", Name(o), std::nullopt);
        }
        return;
      }
      if (o != e.object) ControllerWrite(store_, e.plural, o);
    });
  }
}

}  // namespace migdra::control
