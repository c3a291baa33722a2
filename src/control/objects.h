// Object lifecycle shared by the REST API and the in-process controllers: what the API server
// does around a store write (server-owned metadata, generateName, defaulting, validation,
// status-subresource rules, finalizers and deletionTimestamp).
//
// Thread safety: as the Store; every call may run concurrently with any other.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "control/admission.h"
#include "control/resources.h"
#include "control/store.h"

namespace migdra::control {

struct WriteOptions {
  bool dry_run = false;
  // A client's fieldValidation (admission.h); unset for the control plane's own writes, whose
  // fields are not checked.
  std::optional<FieldValidation> field_validation;
  std::vector<std::string> duplicate_fields;     // keys the request body repeats
  std::vector<std::string>* warnings = nullptr;  // receives fieldValidation=Warn's findings
  // The caller has refused the object's wire type errors already (the API handler does, where
  // the API server's order of checks puts them): the write does not decode the object again.
  bool wire_types_checked = false;
};

// Creates `object` (namespace already resolved into metadata.namespace for namespaced kinds).
// Returns the stored object, or BadRequest (also WireTypeError's, unless
// options.wire_types_checked) / NotFound (namespace) / AlreadyExists / Invalid.
Result<json> CreateObject(Store& store, const ResourceInfo& info, json object,
                          const WriteOptions& options = {});

// Replaces the object with `object` (BadRequest for WireTypeError's errors, unless
// options.wire_types_checked). `status_only` applies the status subresource's rules (only
// status changes), else status is kept from the stored object for kinds with a status
// subresource. The stored version must equal metadata.resourceVersion when that is set
// (Conflict otherwise). An update that leaves a deleted object without finalizers deletes it.
Result<json> UpdateObject(Store& store, const ResourceInfo& info, json object, bool status_only,
                          const WriteOptions& options = {});

struct DeleteOptions {
  std::string propagation;  // "", "Background", "Foreground", "Orphan"
  std::optional<int64_t> expected_version;
  std::string expected_uid;
  bool dry_run = false;
};

// Deletes, or marks for deletion (deletionTimestamp) an object that has finalizers. Returns the
// object as last stored. The namespaces default, kube-system and kube-public are never deleted
// (Forbidden, as the API server's NamespaceLifecycle admission answers).
Result<json> DeleteObject(Store& store, const ResourceInfo& info, const std::string& ns,
                          const std::string& name, const DeleteOptions& options = {});

// The Error for a store failure, with Kubernetes' message for the resource and name.
Error WithResource(Error error, const ResourceInfo& info, const std::string& name);

}  // namespace migdra::control
