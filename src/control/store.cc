#include "control/store.h"

#include <sqlite3.h>

#include <cstdio>
#include <ctime>
#include <random>

namespace migdra::control {
namespace {

std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

ApiError DbError(sqlite3* db, const std::string& what) {
  return ApiError{500, "InternalError", what + ": " + (db ? sqlite3_errmsg(db) : "no database")};
}

// A prepared statement that finalises itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  bool ok() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

}  // namespace

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "ERROR";
}

std::string NowRfc3339() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string NewUid() {
  std::uniform_int_distribution<int> hex(0, 15);
  const char* digits = "0123456789abcdef";
  std::string uid;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) uid += '-';
    int v = hex(Rng());
    if (i == 12) v = 4;
    if (i == 16) v = 8 | (v & 3);
    uid += digits[v];
  }
  return uid;
}

std::string RandomSuffix(size_t n) {
  // The API server's alphabet: no vowels and no confusable digits.
  static const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::uniform_int_distribution<int> pick(0, 26);
  std::string s;
  for (size_t i = 0; i < n; ++i) s += alphabet[pick(Rng())];
  return s;
}

int64_t ParseVersion(const std::string& text) {
  if (text.empty() || text.size() > 18) return -1;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

ApiResult<std::unique_ptr<Store>> Store::Open(const std::string& path, size_t log_capacity) {
  std::unique_ptr<Store> store(new Store());
  store->log_capacity_ = log_capacity;
  const std::string target = path.empty() ? ":memory:" : path;
  if (sqlite3_open_v2(target.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return ApiResult<std::unique_ptr<Store>>::Fail(DbError(store->db_, "opening " + target));
  }
  sqlite3_busy_timeout(store->db_, 5000);
  const char* setup[] = {
      "PRAGMA journal_mode=WAL",
      "PRAGMA synchronous=FULL",
      "CREATE TABLE IF NOT EXISTS objects (resource TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT "
      "NULL, body TEXT NOT NULL, PRIMARY KEY (resource, ns, name)) WITHOUT ROWID",
      "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
  };
  for (const char* sql : setup) {
    if (!store->Exec(sql)) {
      return ApiResult<std::unique_ptr<Store>>::Fail(DbError(store->db_, "setting up the store"));
    }
  }
  {
    Statement q(store->db_, "SELECT v FROM meta WHERE k = 'version'");
    if (q.ok() && sqlite3_step(q.get()) == SQLITE_ROW) {
      store->version_ = sqlite3_column_int64(q.get(), 0);
    }
  }
  {
    // A row that is not a JSON object (a damaged file, a hand edit) is left in the file and out
    // of the store, and said so: one line per row naming its key, then the count.
    size_t undecodable = 0;
    Statement q(store->db_, "SELECT resource, ns, name, body FROM objects");
    while (q.ok() && sqlite3_step(q.get()) == SQLITE_ROW) {
      auto text = [&](int i) {
        const unsigned char* t = sqlite3_column_text(q.get(), i);
        return std::string(t ? reinterpret_cast<const char*>(t) : "");
      };
      json object = json::parse(text(3), nullptr, /*allow_exceptions=*/false);
      if (!object.is_object()) {
        ++undecodable;
        std::fprintf(stderr, "migdra: store %s: row %s %s is not a JSON object; skipped\n",
                     target.c_str(), text(0).c_str(), Key(text(1), text(2)).c_str());
        continue;
      }
      store->objects_[text(0)][Key(text(1), text(2))] = std::move(object);
    }
    if (undecodable > 0) {
      std::fprintf(stderr, "migdra: store %s: %zu undecodable rows skipped (left in the file)\n",
                   target.c_str(), undecodable);
    }
  }
  store->log_floor_ = store->version_;
  return ApiResult<std::unique_ptr<Store>>::Ok(std::move(store));
}

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

bool Store::Exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

std::optional<json> Store::Get(const std::string& resource, const std::string& ns,
                               const std::string& name) const {
  std::shared_lock lock(mu_);
  auto r = objects_.find(resource);
  if (r == objects_.end()) return std::nullopt;
  auto o = r->second.find(Key(ns, name));
  if (o == r->second.end()) return std::nullopt;
  return o->second;
}

std::vector<json> Store::List(const std::string& resource, const std::string& ns,
                              int64_t* list_version) const {
  std::shared_lock lock(mu_);
  std::vector<json> out;
  if (list_version) *list_version = version_;
  auto r = objects_.find(resource);
  if (r == objects_.end()) return out;
  if (ns.empty()) {
    for (const auto& [key, object] : r->second) out.push_back(object);
  } else {
    const std::string prefix = ns + "/";
    for (auto it = r->second.lower_bound(prefix);
         it != r->second.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      out.push_back(it->second);
    }
  }
  return out;
}

int64_t Store::CurrentVersion() const {
  std::shared_lock lock(mu_);
  return version_;
}

ApiResult<json> Store::Create(const std::string& resource, json object) {
  std::lock_guard write_lock(write_mu_);
  const std::string ns = object["metadata"].value("namespace", "");
  const std::string name = object["metadata"].value("name", "");
  if (Get(resource, ns, name)) {
    return ApiResult<json>::Fail(ApiError{409, "AlreadyExists", "\"" + name + "\" already exists"});
  }
  return Write(resource, ns, name, std::move(object), EventType::kAdded);
}

ApiResult<json> Store::Update(const std::string& resource, json object,
                              std::optional<int64_t> expected_version) {
  std::lock_guard write_lock(write_mu_);
  const std::string ns = object["metadata"].value("namespace", "");
  const std::string name = object["metadata"].value("name", "");
  std::optional<json> current = Get(resource, ns, name);
  if (!current) {
    return ApiResult<json>::Fail(ApiError{404, "NotFound", "\"" + name + "\" not found"});
  }
  if (expected_version &&
      ParseVersion((*current)["metadata"].value("resourceVersion", "")) != *expected_version) {
    return ApiResult<json>::Fail(ApiError{
        409, "Conflict",
        "Operation cannot be fulfilled on " + resource + " \"" + name +
            "\": the object has been modified; please apply your changes to the latest version "
            "and try again"});
  }
  return Write(resource, ns, name, std::move(object), EventType::kModified);
}

ApiResult<json> Store::Delete(const std::string& resource, const std::string& ns,
                              const std::string& name, std::optional<int64_t> expected_version,
                              const std::string& expected_uid) {
  std::lock_guard write_lock(write_mu_);
  std::optional<json> current = Get(resource, ns, name);
  if (!current) {
    return ApiResult<json>::Fail(ApiError{404, "NotFound", "\"" + name + "\" not found"});
  }
  const json& meta = (*current)["metadata"];
  if ((expected_version && ParseVersion(meta.value("resourceVersion", "")) != *expected_version) ||
      (!expected_uid.empty() && meta.value("uid", "") != expected_uid)) {
    return ApiResult<json>::Fail(ApiError{
        409, "Conflict",
        "Operation cannot be fulfilled on " + resource + " \"" + name +
            "\": the object has been modified; please apply your changes to the latest version "
            "and try again"});
  }
  return Write(resource, ns, name, std::move(*current), EventType::kDeleted);
}

// Called with write_mu_ held: persists, then publishes to the cache and the watch log.
ApiResult<json> Store::Write(const std::string& resource, const std::string& ns,
                             const std::string& name, json object, EventType type) {
  const int64_t version = version_ + 1;
  object["metadata"]["resourceVersion"] = std::to_string(version);
  const std::string body = object.dump();
  if (!Exec("BEGIN IMMEDIATE")) return ApiResult<json>::Fail(DbError(db_, "begin"));
  bool ok = true;
  if (type == EventType::kDeleted) {
    Statement del(db_, "DELETE FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3");
    ok = del.ok();
    if (ok) {
      sqlite3_bind_text(del.get(), 1, resource.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(del.get(), 2, ns.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(del.get(), 3, name.c_str(), -1, SQLITE_TRANSIENT);
      ok = sqlite3_step(del.get()) == SQLITE_DONE;
    }
  } else {
    Statement put(
        db_, "INSERT OR REPLACE INTO objects (resource, ns, name, body) VALUES (?1, ?2, ?3, ?4)");
    ok = put.ok();
    if (ok) {
      sqlite3_bind_text(put.get(), 1, resource.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(put.get(), 2, ns.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(put.get(), 3, name.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(put.get(), 4, body.c_str(), static_cast<int>(body.size()),
                        SQLITE_TRANSIENT);
      ok = sqlite3_step(put.get()) == SQLITE_DONE;
    }
  }
  if (ok) {
    Statement meta(db_, "INSERT OR REPLACE INTO meta (k, v) VALUES ('version', ?1)");
    ok = meta.ok();
    if (ok) {
      sqlite3_bind_int64(meta.get(), 1, version);
      ok = sqlite3_step(meta.get()) == SQLITE_DONE;
    }
  }
  if (!ok || !Exec("COMMIT")) {
    ApiError error = DbError(db_, "writing " + resource + " " + name);
    Exec("ROLLBACK");
    return ApiResult<json>::Fail(error);
  }
  {
    std::unique_lock lock(mu_);
    version_ = version;
    if (type == EventType::kDeleted) {
      objects_[resource].erase(Key(ns, name));
    } else {
      objects_[resource][Key(ns, name)] = object;
    }
    log_.push_back(WatchEvent{version, type, resource, ns, object});
    while (log_.size() > log_capacity_) {
      log_floor_ = log_.front().resource_version;
      log_.pop_front();
    }
  }
  { std::lock_guard lock(wait_mu_); }
  wait_cv_.notify_all();
  return ApiResult<json>::Ok(std::move(object));
}

ApiResult<std::vector<WatchEvent>> Store::EventsAfter(int64_t after, size_t max) const {
  std::shared_lock lock(mu_);
  if (after < log_floor_) {
    return ApiResult<std::vector<WatchEvent>>::Fail(
        ApiError{410, "Expired",
                 "too old resource version: " + std::to_string(after) + " (" +
                     std::to_string(log_floor_ + 1) + ")"});
  }
  std::vector<WatchEvent> out;
  // The log is ordered by version; find the first event after `after`.
  auto it = std::upper_bound(log_.begin(), log_.end(), after,
                             [](int64_t v, const WatchEvent& e) { return v < e.resource_version; });
  for (; it != log_.end() && out.size() < max; ++it) out.push_back(*it);
  return ApiResult<std::vector<WatchEvent>>::Ok(std::move(out));
}

bool Store::WaitForVersion(int64_t after, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(wait_mu_);
  return wait_cv_.wait_for(lock, timeout, [&] { return CurrentVersion() > after; });
}

void Store::WakeAll() const {
  { std::lock_guard lock(wait_mu_); }
  wait_cv_.notify_all();
}

}  // namespace migdra::control
