#include "control/store.h"

#include "common/clock.h"

#include <sqlite3.h>

#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <map>
#include <random>

namespace migdra::control {
namespace {

std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

Error DbError(sqlite3* db, const std::string& what) {
  return MakeError(ErrorReason::kInternal, what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
}

Error Conflict(const std::string& resource, const std::string& name) {
  return MakeError(ErrorReason::kConflict,
                   "Operation cannot be fulfilled on " + resource + " \"" + name +
                       "\": the object has been modified; please apply your changes to the latest "
                       "version and try again");
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

}  // namespace

// A prepared statement that finalises itself.
class Store::Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  bool ok() const { return stmt_ != nullptr; }
  // Binds `texts` to ?1, ?2, ... (not copied: they must live until Run) and steps once.
  bool Run(std::initializer_list<const std::string*> texts) {
    sqlite3_reset(stmt_);
    int i = 0;
    for (const std::string* t : texts) {
      sqlite3_bind_text(stmt_, ++i, t->data(), static_cast<int>(t->size()), SQLITE_STATIC);
    }
    const bool done = sqlite3_step(stmt_) == SQLITE_DONE;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return done;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// One create, update or delete waiting for its transaction.
struct Store::PendingWrite {
  PendingWrite(EventType type, std::string resource, std::string ns, std::string name)
      : type(type), resource(std::move(resource)), ns(std::move(ns)), name(std::move(name)) {}
  // A create or update of `object`, named by its metadata.
  PendingWrite(EventType type, std::string resource, json object)
      : PendingWrite(type, std::move(resource), object["metadata"].value("namespace", ""),
                     object["metadata"].value("name", "")) {
    this->object = std::move(object);
  }

  EventType type;  // kAdded: create, kModified: update, kDeleted: delete
  std::string resource, ns, name;
  json object;  // the new object (create, update)
  std::optional<int64_t> expected_version;
  std::string expected_uid;
  Result<json> result = MakeError("the write was not applied");
  bool refused = false;  // its result is a refusal (not found, conflict, ...), not a store failure
  bool done = false;     // guarded by queue_mu_
};

Store::Store() = default;

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

std::string NowRfc3339() { return migdra::NowRfc3339(); }

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

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, size_t log_capacity) {
  std::unique_ptr<Store> store(new Store());
  store->log_capacity_ = log_capacity;
  const std::string target = path.empty() ? ":memory:" : path;
  if (sqlite3_open_v2(target.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return DbError(store->db_, "opening " + target);
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
      return DbError(store->db_, "setting up the store");
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
  if (!store->PrepareStatements()) {
    return DbError(store->db_, "preparing statements");
  }
  return store;
}

Store::~Store() {
  begin_.reset();
  commit_.reset();
  rollback_.reset();
  put_.reset();
  delete_.reset();
  set_version_.reset();
  if (db_) sqlite3_close(db_);
}

bool Store::PrepareStatements() {
  begin_ = std::make_unique<Statement>(db_, "BEGIN IMMEDIATE");
  commit_ = std::make_unique<Statement>(db_, "COMMIT");
  rollback_ = std::make_unique<Statement>(db_, "ROLLBACK");
  put_ = std::make_unique<Statement>(
      db_, "INSERT OR REPLACE INTO objects (resource, ns, name, body) VALUES (?1, ?2, ?3, ?4)");
  delete_ = std::make_unique<Statement>(
      db_, "DELETE FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3");
  set_version_ =
      std::make_unique<Statement>(db_, "INSERT OR REPLACE INTO meta (k, v) VALUES ('version', ?1)");
  return begin_->ok() && commit_->ok() && rollback_->ok() && put_->ok() && delete_->ok() &&
         set_version_->ok();
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

Result<json> Store::Create(const std::string& resource, json object) {
  PendingWrite w(EventType::kAdded, resource, std::move(object));
  return Submit(w);
}

Result<json> Store::Update(const std::string& resource, json object,
                           std::optional<int64_t> expected_version) {
  PendingWrite w(EventType::kModified, resource, std::move(object));
  w.expected_version = expected_version;
  return Submit(w);
}

Result<json> Store::Delete(const std::string& resource, const std::string& ns,
                           const std::string& name, std::optional<int64_t> expected_version,
                           const std::string& expected_uid) {
  PendingWrite w(EventType::kDeleted, resource, ns, name);
  w.expected_version = expected_version;
  w.expected_uid = expected_uid;
  return Submit(w);
}

Result<json> Store::Submit(PendingWrite& write) {
  std::unique_lock lock(queue_mu_);
  queue_.push_back(&write);
  while (!write.done) {
    if (committing_) {
      queue_cv_.wait(lock);
      continue;
    }
    committing_ = true;
    std::vector<PendingWrite*> batch;
    batch.swap(queue_);
    lock.unlock();
    CommitBatch(batch);
    lock.lock();
    for (PendingWrite* w : batch) w->done = true;
    committing_ = false;
    queue_cv_.notify_all();
  }
  return std::move(write.result);
}

void Store::CommitBatch(const std::vector<PendingWrite*>& batch) {
  // The state each write is checked against: the committed objects (only this function changes
  // them, so reading them here needs no lock) overlaid with the batch's earlier writes.
  std::map<std::string, std::optional<json>> overlay;  // resource + " " + key -> object or gone
  auto current = [&](const PendingWrite& w) -> const json* {
    auto o = overlay.find(w.resource + " " + Key(w.ns, w.name));
    if (o != overlay.end()) return o->second ? &*o->second : nullptr;
    auto r = objects_.find(w.resource);
    if (r == objects_.end()) return nullptr;
    auto it = r->second.find(Key(w.ns, w.name));
    return it == r->second.end() ? nullptr : &it->second;
  };
  std::vector<PendingWrite*> staged;  // checked and written, in version order
  int64_t version = version_;
  bool db_ok = begin_->Run({});
  for (PendingWrite* w : batch) {
    if (!db_ok) break;
    const json* existing = current(*w);
    if (w->type == EventType::kAdded && existing) {
      w->refused = true;
      w->result = MakeError(ErrorReason::kAlreadyExists, "\"" + w->name + "\" already exists");
      continue;
    }
    if (w->type != EventType::kAdded) {
      if (!existing) {
        w->refused = true;
        w->result = MakeError(ErrorReason::kNotFound, "\"" + w->name + "\" not found");
        continue;
      }
      const json& meta = (*existing)["metadata"];
      if ((w->expected_version &&
           ParseVersion(meta.value("resourceVersion", "")) != *w->expected_version) ||
          (!w->expected_uid.empty() && meta.value("uid", "") != w->expected_uid)) {
        w->refused = true;
        w->result = Conflict(w->resource, w->name);
        continue;
      }
      if (w->type == EventType::kDeleted) w->object = *existing;
    }
    w->object["metadata"]["resourceVersion"] = std::to_string(version + 1);
    std::string body;
    try {
      body = w->object.dump();
    } catch (const std::exception& e) {  // e.g. a string that is not UTF-8
      w->refused = true;
      w->result = MakeError(ErrorReason::kInternal, e.what());
      continue;
    }
    db_ok = w->type == EventType::kDeleted ? delete_->Run({&w->resource, &w->ns, &w->name})
                                           : put_->Run({&w->resource, &w->ns, &w->name, &body});
    if (!db_ok) break;
    ++version;
    overlay[w->resource + " " + Key(w->ns, w->name)] =
        w->type == EventType::kDeleted ? std::nullopt : std::optional<json>(w->object);
    staged.push_back(w);
  }
  if (db_ok && !staged.empty()) {
    sqlite3_reset(set_version_->get());
    sqlite3_bind_int64(set_version_->get(), 1, version);
    db_ok = sqlite3_step(set_version_->get()) == SQLITE_DONE;
    sqlite3_reset(set_version_->get());
  }
  if (!db_ok || !commit_->Run({})) {
    const Error error = DbError(db_, "writing to the store");
    rollback_->Run({});
    for (PendingWrite* w : batch) {
      if (!w->refused) w->result = error;
    }
    return;
  }
  {
    std::unique_lock lock(mu_);
    for (PendingWrite* w : staged) {
      const int64_t v = ++version_;
      if (w->type == EventType::kDeleted) {
        objects_[w->resource].erase(Key(w->ns, w->name));
      } else {
        objects_[w->resource][Key(w->ns, w->name)] = w->object;
      }
      log_.push_back(WatchEvent{v, w->type, w->resource, w->ns, w->object});
      while (log_.size() > log_capacity_) {
        log_floor_ = log_.front().resource_version;
        log_.pop_front();
      }
    }
  }
  for (PendingWrite* w : staged) w->result = std::move(w->object);
  { std::lock_guard lock(wait_mu_); }
  wait_cv_.notify_all();
}

Result<std::vector<WatchEvent>> Store::EventsAfter(int64_t after, size_t max) const {
  std::shared_lock lock(mu_);
  if (after < log_floor_) {
    return MakeError(ErrorReason::kExpired, "too old resource version: " + std::to_string(after) +
                                                " (" + std::to_string(log_floor_ + 1) + ")");
  }
  std::vector<WatchEvent> out;
  // The log is ordered by version; find the first event after `after`.
  auto it = std::upper_bound(log_.begin(), log_.end(), after,
                             [](int64_t v, const WatchEvent& e) { return v < e.resource_version; });
  for (; it != log_.end() && out.size() < max; ++it) out.push_back(*it);
  return out;
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
