// The control plane's object store: every API object as JSON, persisted in SQLite.
//
// Contract:
// - One global resourceVersion (a 64-bit counter) orders every write; each object carries the
//   version of its last write in metadata.resourceVersion.
// - Every write (create, update, delete) is committed to SQLite (WAL, synchronous=FULL: the WAL
//   is fsynced at each commit) before the call returns, so an acknowledged write survives a
//   crash, kill -9 or power loss.
// - Writes are serialised: they take effect one after another in the order of their versions.
//   Writes that arrive while a commit is running are committed together in the next SQLite
//   transaction (group commit: one fsync for all of them), each checked against the ones before
//   it; none of them returns, and no reader sees any of them, before that transaction commits.
// - Reads are served from an in-memory copy and never block on disk.
// - Watchers see every write after a given resourceVersion, in order, from a bounded in-memory
//   log; a version older than the log's start is "too old" (ErrorReason::kExpired).
// - Failures are Errors with a reason (common/result.h): kAlreadyExists, kNotFound and kConflict
//   refuse one write; kInternal is SQLite failing.
//
// Objects are keyed by (resource, namespace, name); `resource` is the qualified resource name
// such as "pods" or "resourceclaims.resource.k8s.io" and namespace is "" for cluster-scoped kinds.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

struct sqlite3;

namespace migdra::control {

using json = nlohmann::json;

enum class EventType { kAdded, kModified, kDeleted };
const char* EventTypeName(EventType type);

struct WatchEvent {
  int64_t resource_version = 0;
  EventType type = EventType::kAdded;
  std::string resource;
  std::string namespace_;
  json object;  // the object after the write (for kDeleted, as it was, with the delete's version)
};

class Store {
 public:
  // Opens (creating if needed) the database at `path`. An empty path is an in-memory database
  // (tests). `log_capacity` bounds the watch log.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, size_t log_capacity = 50000);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::optional<json> Get(const std::string& resource, const std::string& ns,
                          const std::string& name) const;
  // Every object of `resource` in namespace `ns` ("" = all namespaces), ordered by namespace
  // then name; `*list_version` receives the store version the list is consistent with.
  std::vector<json> List(const std::string& resource, const std::string& ns,
                         int64_t* list_version = nullptr) const;
  int64_t CurrentVersion() const;

  // Stores a new object; AlreadyExists if the key is taken. Sets metadata.resourceVersion.
  Result<json> Create(const std::string& resource, json object);
  // Replaces an existing object. When `expected_version` is set and differs from the stored
  // object's version, fails with Conflict. NotFound if absent.
  Result<json> Update(const std::string& resource, json object,
                      std::optional<int64_t> expected_version);
  // Removes an object. Preconditions as for Update (plus uid when non-empty).
  Result<json> Delete(const std::string& resource, const std::string& ns, const std::string& name,
                      std::optional<int64_t> expected_version,
                      const std::string& expected_uid = "");

  // Events with version > `after`, at most `max` of them. Fails with kExpired when events
  // after `after` are no longer in the log.
  Result<std::vector<WatchEvent>> EventsAfter(int64_t after, size_t max = 1000) const;
  // Blocks until the store's version exceeds `after` or `timeout` passes; returns whether it did.
  bool WaitForVersion(int64_t after, std::chrono::milliseconds timeout) const;
  // Wakes every WaitForVersion caller (used at shutdown).
  void WakeAll() const;

 private:
  struct PendingWrite;
  class Statement;
  Store();
  bool Exec(const char* sql);
  bool PrepareStatements();
  // Queues `write` and returns its result once the transaction holding it has committed; the
  // caller that finds no commit running commits everything queued (group commit).
  Result<json> Submit(PendingWrite& write);
  // Checks, persists in one transaction and publishes `batch`, in order. Only one runs at a time.
  void CommitBatch(const std::vector<PendingWrite*>& batch);

  sqlite3* db_ = nullptr;
  size_t log_capacity_ = 0;
  // Prepared once at Open: BEGIN, COMMIT, ROLLBACK, the object insert and delete, the version.
  std::unique_ptr<Statement> begin_, commit_, rollback_, put_, delete_, set_version_;

  std::mutex queue_mu_;  // guards the queue of writes and whether a commit runs
  std::condition_variable queue_cv_;
  std::vector<PendingWrite*> queue_;
  bool committing_ = false;

  mutable std::shared_mutex mu_;  // guards the fields below; written only by CommitBatch
  int64_t version_ = 0;
  // resource -> "ns/name" -> object
  std::map<std::string, std::map<std::string, json>> objects_;
  std::deque<WatchEvent> log_;
  int64_t log_floor_ = 0;  // every event with version > log_floor_ is in log_
  mutable std::mutex wait_mu_;
  mutable std::condition_variable wait_cv_;
};

// Helpers shared by the control plane.
std::string NowRfc3339();
std::string NewUid();
std::string RandomSuffix(size_t n);  // lower-case alphanumerics, as the API server's generateName
int64_t ParseVersion(const std::string& text);  // -1 when not a non-negative integer

}  // namespace migdra::control
