#include "control/objects.h"

#include <algorithm>

#include "control/json_access.h"
#include "control/wire_types.h"

namespace migdra::control {
namespace {

std::string QualifiedKind(const ResourceInfo& info) {
  return info.group.empty() ? info.kind : info.kind + "." + info.group;
}

std::string QualifiedPlural(const ResourceInfo& info) {
  return info.group.empty() ? info.plural : info.plural + "." + info.group;
}

Error Invalid(const ResourceInfo& info, const std::string& name, std::vector<ErrorCause> causes) {
  std::vector<std::string> parts;
  for (const ErrorCause& c : causes) {
    parts.push_back(c.field.empty() ? c.message : c.field + ": " + c.message);
  }
  std::string joined;
  if (parts.size() == 1) {
    joined = parts[0];
  } else {
    joined = "[";
    for (size_t i = 0; i < parts.size(); ++i) joined += (i ? ", " : "") + parts[i];
    joined += "]";
  }
  Error error =
      MakeError(ErrorReason::kInvalid,
                QualifiedKind(info) + " \"" + name + "\" is invalid: " + joined, std::move(causes));
  error.subject = {name, info.group, info.kind};
  return error;
}

std::optional<Error> CheckFields(const ResourceInfo& info, json& object,
                                 const WriteOptions& options) {
  if (!options.field_validation) return std::nullopt;
  std::vector<std::string> warnings;
  std::optional<Error> error = ApplyFieldValidation(info, object, options.duplicate_fields,
                                                    *options.field_validation, warnings);
  if (options.warnings != nullptr)
    options.warnings->insert(options.warnings->end(), warnings.begin(), warnings.end());
  return error;
}

bool HasFinalizers(const json& object) {
  const json& meta = object["metadata"];
  return meta.contains("finalizers") && meta["finalizers"].is_array() &&
         !meta["finalizers"].empty();
}

}  // namespace

Error WithResource(Error error, const ResourceInfo& info, const std::string& name) {
  if (error.reason == ErrorReason::kNotFound || error.reason == ErrorReason::kAlreadyExists ||
      error.reason == ErrorReason::kConflict) {
    error.subject = {name, info.group, info.plural};
  }
  if (error.reason == ErrorReason::kNotFound) {
    error.message = QualifiedPlural(info) + " \"" + name + "\" not found";
  } else if (error.reason == ErrorReason::kAlreadyExists) {
    error.message = QualifiedPlural(info) + " \"" + name + "\" already exists";
  } else if (error.reason == ErrorReason::kConflict) {
    error.message = "Operation cannot be fulfilled on " + QualifiedPlural(info) + " \"" + name +
                    "\": the object has been modified; please apply your changes to the latest "
                    "version and try again";
  }
  return error;
}

Result<json> CreateObject(Store& store, const ResourceInfo& info, json object,
                          const WriteOptions& options) {
  if (!object.is_object()) {
    return MakeError(ErrorReason::kBadRequest, "the body must be a JSON object");
  }
  if (!options.wire_types_checked) {
    if (std::optional<Error> type_error = WireTypeError(info, object))
      return std::move(*type_error);
  }
  EncodeByteArrays(info, object);
  CanonicalizeQuantities(info, object);
  if (!object.contains("metadata") || !object["metadata"].is_object()) {
    object["metadata"] = json::object();
  }
  json& meta = object["metadata"];
  object["apiVersion"] = info.GroupVersion();
  object["kind"] = info.kind;
  if (!info.namespaced) meta.erase("namespace");
  if (info.namespaced) {
    std::string ns = meta.value("namespace", "");
    std::optional<json> ns_object = store.Get("namespaces", "", ns);
    if (!ns_object) {
      Error missing = MakeError(ErrorReason::kNotFound, "namespaces \"" + ns + "\" not found");
      missing.subject = {ns, "", "namespaces"};
      return missing;
    }
    if ((*ns_object)["metadata"].contains("deletionTimestamp")) {
      return MakeError(ErrorReason::kForbidden,
                       QualifiedPlural(info) + " \"" + meta.value("name", "") +
                           "\" is forbidden: unable to create new content in namespace " + ns +
                           " because it is being terminated");
    }
  }
  if (std::optional<Error> error = CheckFields(info, object, options)) {
    return std::move(*error);
  }
  const bool generated = meta.value("name", "").empty() && !meta.value("generateName", "").empty();
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("managedFields");
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = NowRfc3339();
  meta["generation"] = 1;
  if (info.HasSubresource("status") && info.plural != "nodes") object.erase("status");
  ApplyDefaults(info, object);
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (generated) {
      std::string base = meta.value("generateName", "");
      if (base.size() > 58) base = base.substr(0, 58);
      meta["name"] = base + RandomSuffix(5);
      if (info.plural == "jobs") ApplyDefaults(info, object);  // labels carry the name
    }
    std::vector<ErrorCause> causes = AdmissionCauses(info, object, json());
    if (!causes.empty()) {
      return Invalid(info, meta.value("name", ""), std::move(causes));
    }
    if (options.dry_run) {
      if (store.Get(info.StoreKey(), meta.value("namespace", ""), meta.value("name", ""))) {
        return WithResource(MakeError(ErrorReason::kAlreadyExists, ""), info,
                            meta.value("name", ""));
      }
      return object;
    }
    Result<json> created = store.Create(info.StoreKey(), object);
    if (created.ok()) return created;
    if (!(generated && created.error().reason == ErrorReason::kAlreadyExists)) {
      return WithResource(created.error(), info, meta.value("name", ""));
    }
  }
  return MakeError(ErrorReason::kInternal, "could not generate a unique name");
}

Result<json> UpdateObject(Store& store, const ResourceInfo& info, json object, bool status_only,
                          const WriteOptions& options) {
  if (!options.wire_types_checked) {
    if (std::optional<Error> type_error = WireTypeError(info, object))
      return std::move(*type_error);
  }
  EncodeByteArrays(info, object);
  CanonicalizeQuantities(info, object);
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return MakeError(ErrorReason::kBadRequest, "the object has no metadata");
  }
  const std::string ns = info.namespaced ? object["metadata"].value("namespace", "") : "";
  const std::string name = object["metadata"].value("name", "");
  std::optional<json> current = store.Get(info.StoreKey(), ns, name);
  if (!current) {
    return WithResource(MakeError(ErrorReason::kNotFound, ""), info, name);
  }
  if (std::optional<Error> error = CheckFields(info, object, options)) {
    return std::move(*error);
  }
  std::optional<int64_t> expected;
  std::string rv = object["metadata"].value("resourceVersion", "");
  if (!rv.empty()) {
    int64_t v = ParseVersion(rv);
    if (v < 0) {
      return MakeError(ErrorReason::kBadRequest, "invalid resourceVersion \"" + rv + "\"");
    }
    expected = v;
  }
  json updated;
  if (status_only) {
    updated = *current;
    if (object.contains("status")) {
      updated["status"] = object["status"];
    } else {
      updated.erase("status");
    }
  } else {
    updated = std::move(object);
    updated["apiVersion"] = info.GroupVersion();
    updated["kind"] = info.kind;
    if (info.HasSubresource("status")) {
      if (current->contains("status")) {
        updated["status"] = (*current)["status"];
      } else {
        updated.erase("status");
      }
    }
  }
  json& meta = updated["metadata"];
  const json& old_meta = (*current)["metadata"];
  for (const char* key : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
    if (old_meta.contains(key)) {
      meta[key] = old_meta[key];
    } else {
      meta.erase(key);
    }
  }
  meta.erase("managedFields");
  if (info.namespaced) meta["namespace"] = ns;
  if (!status_only && updated.value("spec", json()) != current->value("spec", json())) {
    meta["generation"] = old_meta.value("generation", 0) + 1;
  }
  ApplyDefaults(info, updated);
  std::vector<ErrorCause> causes = AdmissionCauses(info, updated, *current);
  if (!causes.empty()) return Invalid(info, name, std::move(causes));
  if (options.dry_run) return updated;
  if (meta.contains("deletionTimestamp") && !HasFinalizers(updated) &&
      info.plural != "namespaces") {
    Result<json> deleted = store.Delete(info.StoreKey(), ns, name, expected);
    if (!deleted.ok()) return WithResource(deleted.error(), info, name);
    return deleted;
  }
  Result<json> stored = store.Update(info.StoreKey(), std::move(updated), expected);
  if (!stored.ok()) return WithResource(stored.error(), info, name);
  return stored;
}

Result<json> DeleteObject(Store& store, const ResourceInfo& info, const std::string& ns,
                          const std::string& name, const DeleteOptions& options) {
  // The NamespaceLifecycle admission plugin: the namespaces every cluster starts with stay.
  if (info.plural == "namespaces" &&
      (name == "default" || name == "kube-system" || name == "kube-public")) {
    Error immortal = MakeError(ErrorReason::kForbidden, "namespaces \"" + name +
                                                            "\" is forbidden: this namespace may "
                                                            "not be deleted");
    immortal.subject = {name, "", "namespaces"};
    return immortal;
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::optional<json> current = store.Get(info.StoreKey(), ns, name);
    if (!current) {
      return WithResource(MakeError(ErrorReason::kNotFound, ""), info, name);
    }
    json& meta = (*current)["metadata"];
    const int64_t version = ParseVersion(meta.value("resourceVersion", ""));
    if ((options.expected_version && *options.expected_version != version) ||
        (!options.expected_uid.empty() && options.expected_uid != meta.value("uid", ""))) {
      return WithResource(MakeError(ErrorReason::kConflict, ""), info, name);
    }
    std::string propagation = options.propagation;
    if (propagation.empty()) propagation = info.plural == "jobs" ? "Orphan" : "Background";
    json finalizers = meta.contains("finalizers") && meta["finalizers"].is_array()
                          ? meta["finalizers"]
                          : json::array();
    auto add_finalizer = [&](const char* f) {
      if (std::find(finalizers.begin(), finalizers.end(), f) == finalizers.end()) {
        finalizers.push_back(f);
      }
    };
    if (!meta.contains("deletionTimestamp")) {
      if (propagation == "Orphan") add_finalizer("orphan");
      if (propagation == "Foreground") add_finalizer("foregroundDeletion");
    }
    const json& spec_finalizers = Field(*current, {"spec", "finalizers"});
    const bool namespace_with_content =
        info.plural == "namespaces" && spec_finalizers.is_array() && !spec_finalizers.empty();
    if (!finalizers.empty() || namespace_with_content) {
      if (meta.contains("deletionTimestamp")) return *current;
      meta["deletionTimestamp"] = NowRfc3339();
      meta["deletionGracePeriodSeconds"] = 0;
      meta["finalizers"] = finalizers;
      if (finalizers.empty()) meta.erase("finalizers");
      if (info.plural == "namespaces") (*current)["status"]["phase"] = "Terminating";
      if (options.dry_run) return *current;
      Result<json> marked = store.Update(info.StoreKey(), *current, version);
      if (marked.ok() || marked.error().reason != ErrorReason::kConflict ||
          options.expected_version) {
        if (!marked.ok()) return WithResource(marked.error(), info, name);
        return marked;
      }
      continue;
    }
    if (options.dry_run) return *current;
    Result<json> deleted = store.Delete(info.StoreKey(), ns, name, version);
    if (deleted.ok() || deleted.error().reason != ErrorReason::kConflict ||
        options.expected_version) {
      if (!deleted.ok()) return WithResource(deleted.error(), info, name);
      return deleted;
    }
  }
  return WithResource(MakeError(ErrorReason::kConflict, ""), info, name);
}

}  // namespace migdra::control
