#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "flow/storage/ledger_writer.hpp"
#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

namespace {

constexpr int kThreads = 200;
constexpr flow::payment::Atomic kPrice = 250'000;  // 0.25 USDC

// Worth exactly ten payments, by amount and by count.
std::vector<flow::policy::CapCheck> ten_payment_caps() {
  return {amount_cap("org:day", kPrice * 10, 0, flow::policy::ReasonCode::over_org_cap,
                     "organization.caps.daily"),
          count_cap("agent:day:n", 10, 0)};
}

struct Tally {
  std::atomic<int> reserved{0};
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  std::atomic<int> wrong_rule{0};

  void add(const Result<ReserveOutcome>& r) {
    if (!r.ok()) {
      ++errors;
    } else if (r.value().status == ReserveStatus::reserved) {
      ++reserved;
    } else if (r.value().status == ReserveStatus::refused) {
      ++refused;
      const std::string& rule = r.value().refusal->rule;
      if (rule != "organization.caps.daily" && rule != "agents[alice].caps.daily") ++wrong_rule;
    }
  }
};

void check_exactly_ten(const std::string& path, const Tally& tally) {
  CHECK(tally.errors.load() == 0);
  CHECK(tally.reserved.load() == 10);
  CHECK(tally.refused.load() == kThreads - 10);
  CHECK(tally.wrong_rule.load() == 0);
  Ledger check(options_for(path));
  CHECK(ok(check.held_in_window("org:day", 0)).amount == kPrice * 10);
  CHECK(ok(check.held_in_window("agent:day:n", 0)).count == 10);
  RawDb raw(path);
  CHECK(raw.integer("SELECT count(*) FROM attempts") == 10);
}

}  // namespace

TEST_CASE(
    "200 threads on their own connections against a cap worth 10 payments: exactly 10 "
    "succeed") {
  TempDir dir;
  const auto path = dir.file("l.db");
  { Ledger create(options_for(path)); }
  Tally tally;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::unique_ptr<Ledger> ledger;
      try {
        ledger = std::make_unique<Ledger>(options_for(path));  // its own connection
      } catch (const LedgerOpenError&) {
        ++tally.errors;
      }
      start.arrive_and_wait();
      if (ledger) {
        tally.add(
            ledger->reserve(make_intent("t" + std::to_string(i), kPrice), ten_payment_caps()));
      }
    });
  }
  for (auto& t : threads) t.join();
  check_exactly_ten(path, tally);
}

TEST_CASE("200 threads through one writer against a cap worth 10 payments: exactly 10 succeed") {
  TempDir dir;
  const auto path = dir.file("l.db");
  Tally tally;
  {
    LedgerWriter writer(std::make_unique<Ledger>(options_for(path, OpenMode::owner)));
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        auto r = writer.call<ReserveOutcome>(Durability::durable, [i](Ledger& l) {
          return l.reserve(make_intent("t" + std::to_string(i), kPrice), ten_payment_caps());
        });
        tally.add(r);
      });
    }
    for (auto& t : threads) t.join();
    CHECK(writer.stats().largest_batch > 1);  // the point of the writer: shared commits
  }
  check_exactly_ten(path, tally);
}
