#include "control/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

namespace migdra::control {
namespace {

json Obj(const std::string& ns, const std::string& name, int value = 0) {
  return json{{"metadata", {{"namespace", ns}, {"name", name}}}, {"spec", {{"value", value}}}};
}

std::string TempDb() {
  std::string dir = std::filesystem::temp_directory_path() /
                    ("migdra-store-" + std::to_string(::getpid()) + "-" + RandomSuffix(6));
  std::filesystem::create_directories(dir);
  return dir + "/state.db";
}

TEST(StoreTest, CreateGetListAndVersions) {
  auto store = Store::Open("");
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  auto a = s.Create("pods", Obj("default", "a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)["metadata"]["resourceVersion"], "1");
  ASSERT_TRUE(s.Create("pods", Obj("other", "b")).ok());
  EXPECT_EQ(s.CurrentVersion(), 2);
  auto dup = s.Create("pods", Obj("default", "a"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().reason, ErrorReason::kAlreadyExists);
  EXPECT_EQ(s.List("pods", "").size(), 2u);
  EXPECT_EQ(s.List("pods", "default").size(), 1u);
  EXPECT_EQ(s.List("pods", "defaul").size(), 0u);
  EXPECT_FALSE(s.Get("pods", "default", "missing"));
  EXPECT_EQ((*s.Get("pods", "other", "b"))["metadata"]["resourceVersion"], "2");
}

TEST(StoreTest, UpdateChecksVersion) {
  auto store = Store::Open("");
  Store& s = **store;
  ASSERT_TRUE(s.Create("pods", Obj("default", "a", 1)).ok());
  auto stale = s.Update("pods", Obj("default", "a", 2), 7);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().reason, ErrorReason::kConflict);
  auto fresh = s.Update("pods", Obj("default", "a", 2), 1);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*s.Get("pods", "default", "a"))["spec"]["value"], 2);
  auto missing = s.Update("pods", Obj("default", "zz"), std::nullopt);
  EXPECT_EQ(missing.error().reason, ErrorReason::kNotFound);
  ASSERT_TRUE(s.Delete("pods", "default", "a", 2).ok());
  EXPECT_FALSE(s.Get("pods", "default", "a"));
}

TEST(StoreTest, SurvivesReopen) {
  const std::string path = TempDb();
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    Store& s = **store;
    ASSERT_TRUE(s.Create("pods", Obj("default", "a")).ok());
    ASSERT_TRUE(s.Create("pods", Obj("default", "b")).ok());
    ASSERT_TRUE(s.Delete("pods", "default", "a", std::nullopt).ok());
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  EXPECT_EQ(s.CurrentVersion(), 3);
  EXPECT_FALSE(s.Get("pods", "default", "a"));
  EXPECT_TRUE(s.Get("pods", "default", "b"));
  // Versions continue after a restart; a watch from before the restart is too old.
  auto c = s.Create("pods", Obj("default", "c"));
  EXPECT_EQ((*c)["metadata"]["resourceVersion"], "4");
  EXPECT_EQ(s.EventsAfter(1).error().reason, ErrorReason::kExpired);
  EXPECT_EQ(s.EventsAfter(3)->size(), 1u);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(StoreTest, WatchLogIsOrderedAndBounded) {
  auto store = Store::Open("", /*log_capacity=*/3);
  Store& s = **store;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(s.Create("pods", Obj("default", "p" + std::to_string(i))).ok());
  auto recent = s.EventsAfter(3);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ((*recent)[0].resource_version, 4);
  EXPECT_EQ((*recent)[1].type, EventType::kAdded);
  EXPECT_EQ(s.EventsAfter(1).error().reason, ErrorReason::kExpired);
  EXPECT_TRUE(s.EventsAfter(2).ok());
}

TEST(StoreTest, WaitForVersionWakesOnWrite) {
  auto store = Store::Open("");
  Store& s = **store;
  // The wait's own timeout is far beyond the test's bound: only the write's wake-up ends it in
  // time (at its timeout the wait would report the new version all the same).
  auto waited =
      std::async(std::launch::async, [&] { return s.WaitForVersion(0, std::chrono::hours(1)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the waiter block first
  ASSERT_TRUE(s.Create("pods", Obj("default", "a")).ok());
  const bool woken = waited.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  s.WakeAll();  // ends the wait if the write did not
  EXPECT_TRUE(woken) << "the write did not wake the waiter";
  EXPECT_TRUE(waited.get());
  EXPECT_FALSE(s.WaitForVersion(1, std::chrono::milliseconds(20)));
}

TEST(StoreTest, ConcurrentWritersGetDistinctVersions) {
  auto store = Store::Open("");
  Store& s = **store;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(
            s.Create("pods", Obj("default", "p" + std::to_string(t) + "-" + std::to_string(i)))
                .ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(s.CurrentVersion(), 400);
  std::set<std::string> versions;
  for (const json& o : s.List("pods", ""))
    versions.insert(o["metadata"]["resourceVersion"].get<std::string>());
  EXPECT_EQ(versions.size(), 400u);
}

TEST(StoreTest, WritesCommittedTogetherAreCheckedOneAfterAnother) {
  const std::string path = TempDb();
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    Store& s = **store;
    // Concurrent writers share transactions; each is still checked against those before it.
    std::atomic<int> created{0}, exists{0}, deleted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 20; ++i) {
          auto r = s.Create("pods", Obj("default", "same-" + std::to_string(i)));
          if (r.ok()) {
            ++created;
          } else if (r.error().reason == ErrorReason::kAlreadyExists) {
            ++exists;
          }
          if (s.Delete("pods", "default", "same-" + std::to_string(i), std::nullopt).ok()) {
            ++deleted;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(created + exists, 160);
    EXPECT_EQ(created, deleted) << "each object that was created once is deleted once";
    EXPECT_TRUE(s.List("pods", "").empty());
    ASSERT_TRUE(s.Create("pods", Obj("default", "kept")).ok());
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  EXPECT_EQ(s.List("pods", "").size(), 1u);
  EXPECT_TRUE(s.Get("pods", "default", "kept"));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

}  // namespace
}  // namespace migdra::control
