// Hot reload: a valid file replaces the policy, an invalid one never does.
#include <doctest/doctest.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "flow/policy/policy_store.hpp"
#include "policy_test_support.hpp"

using flow::policy::PolicyStore;

namespace {

// A file under /tmp removed at the end of the test.
class TempFile {
 public:
  TempFile() : path_("/tmp/402flow-policy-store-" + std::to_string(::getpid()) + ".yaml") {}
  ~TempFile() { std::remove(path_.c_str()); }
  void write(const std::string& text) const {
    std::ofstream(path_, std::ios::trunc) << policy_test::versioned(text);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* const kAlice = "agents:\n  - id: alice\n";
const char* const kBob = "agents:\n  - id: bob\n";

}  // namespace

TEST_CASE("a valid file replaces the policy and advances the generation") {
  TempFile file;
  file.write(kAlice);
  PolicyStore store(flow::policy::PolicySnapshot::empty());
  CHECK(store.current()->find_agent("alice") == nullptr);
  CHECK_FALSE(store.reload(file.path()).has_value());
  CHECK(store.current()->find_agent("alice") != nullptr);
  CHECK(store.generation() == 2);
}

TEST_CASE("an invalid file leaves the policy in force and returns the error") {
  TempFile file;
  file.write(kAlice);
  PolicyStore store(nullptr);
  REQUIRE_FALSE(store.reload(file.path()).has_value());
  const auto before = store.current();

  file.write("agents:\n  - id: bob\n    tokn: x\n");
  const auto error = store.reload(file.path());
  REQUIRE(error.has_value());
  CHECK(*error ==
        file.path() +
            ":3:5: unknown key 'tokn' in agents[0] (expected one of: id, action, token_sha256, "
            "caps, merchant_caps)");
  CHECK(store.current() == before);
  CHECK(store.generation() == 2);
}

TEST_CASE("a missing file leaves the policy in force") {
  PolicyStore store(policy_test::load(kAlice));
  const auto error = store.reload("/nonexistent/flow.yaml");
  REQUIRE(error.has_value());
  CHECK(*error == "/nonexistent/flow.yaml: cannot open the file");
  CHECK(store.current()->find_agent("alice") != nullptr);
}

TEST_CASE("a snapshot taken before a reload stays usable after it") {
  TempFile file;
  PolicyStore store(policy_test::load(kAlice));
  const auto held = store.current();
  file.write(kBob);
  REQUIRE_FALSE(store.reload(file.path()).has_value());
  CHECK(held->find_agent("alice") != nullptr);
  CHECK(store.current()->find_agent("bob") != nullptr);
}

TEST_CASE("readers on other threads always see a whole policy while reloads swap it") {
  TempFile good_a;
  const TempFile& a = good_a;
  a.write(kAlice);
  const std::string bad_path = a.path() + ".bad";
  std::ofstream(bad_path) << "agents: 7\n";
  PolicyStore store(policy_test::load(kAlice));
  std::atomic<bool> stop{false};
  std::atomic<long> incoherent{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const auto p = store.current();
        if (!p || p->find_agent("alice") == nullptr) ++incoherent;
        ++reads;
      }
    });
  }
  // Keep reloading until the readers have really overlapped with the swaps (on a loaded
  // machine they may not be scheduled during the first 200 reloads), within a bound.
  int reloads = 0;
  int failures = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((reloads < 200 || reads.load() < 1000) && std::chrono::steady_clock::now() < deadline) {
    if (store.reload(reloads % 2 ? bad_path : a.path()).has_value()) ++failures;
    ++reloads;
  }
  stop = true;
  for (auto& r : readers) r.join();
  std::remove(bad_path.c_str());
  CHECK(failures == reloads / 2);
  CHECK(incoherent.load() == 0);
  CHECK(reads.load() >= 1000);
  CHECK(store.generation() == static_cast<std::uint64_t>(1 + (reloads + 1) / 2));
}
