#include <doctest/doctest.h>

#include <algorithm>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

namespace {

struct Stranded {
  std::int64_t reserved, signed_, submitted, settled;
};

// What a process killed mid-flight leaves behind, written through a shared connection.
Stranded leave_attempts_in_flight(const std::string& path) {
  Ledger ledger(options_for(path));
  const std::vector caps{amount_cap("agent:alice:day", 1'000)};
  Stranded s{};
  s.reserved = reserve_new(ledger, make_intent("r", 10), caps).id;
  s.signed_ = reserve_new(ledger, make_intent("s", 20), caps).id;
  ok(ledger.mark_signed(s.signed_, signed_details()));
  s.submitted = reserve_new(ledger, make_intent("u", 40), caps).id;
  ok(ledger.mark_signed(s.submitted, signed_details()));
  ok(ledger.mark_submitted(s.submitted));
  s.settled = reserve_new(ledger, make_intent("d", 80), caps).id;
  ok(ledger.mark_signed(s.settled, signed_details()));
  ok(ledger.mark_submitted(s.settled));
  ok(ledger.finalize(s.settled, settled_outcome()));
  return s;
}

std::vector<std::int64_t> ids(const std::vector<Attempt>& attempts) {
  std::vector<std::int64_t> out;
  for (const auto& a : attempts) out.push_back(a.id);
  return out;
}

}  // namespace

TEST_CASE(
    "opening as owner marks signed and submitted attempts unknown, keeps them counted, "
    "and lists them") {
  TempDir dir;
  const auto path = dir.file("l.db");
  const Stranded s = leave_attempts_in_flight(path);

  Ledger owner(options_for(path, OpenMode::owner));
  const RecoveryReport& report = owner.recovery();
  CHECK(ids(report.marked_unknown) == std::vector<std::int64_t>{s.signed_, s.submitted});
  CHECK(report.released == std::vector<std::int64_t>{s.reserved});
  CHECK(ids(report.awaiting_reconciliation) == std::vector<std::int64_t>{s.signed_, s.submitted});
  for (const auto& a : report.marked_unknown) {
    CHECK(a.state == AttemptState::unknown);
    CHECK(a.failure_reason.find("interrupted") != std::string::npos);
    CHECK(a.failure_code == flow::payment::Reason::payment_interrupted);
  }

  // 20 + 40 unknown + 80 settled stay held; the reserved 10 is released.
  CHECK(ok(owner.held_in_window("agent:alice:day", 0)).amount == 140);
  CHECK(ok(owner.cached_held("agent:alice:day", 0)).amount == 140);  // the cache agrees
  CHECK(ok(owner.spend()).counters.at(0).held_amount == 140);
  CHECK(ok(owner.get_attempt(s.reserved))->state == AttemptState::released);

  const auto receipts = ok(owner.receipts({}));
  REQUIRE(receipts.size() == 3);  // settled + two unknown
  CHECK(receipts[1].attempt.state == AttemptState::unknown);
  CHECK(receipts[2].attempt.state == AttemptState::unknown);
  CHECK(ok(owner.verify_chain()).ok);

  const std::string summary = report.summary();
  CHECK(summary.find("2 attempt(s) in flight marked unknown [" + std::to_string(s.signed_) + ", " +
                     std::to_string(s.submitted) + "]") != std::string::npos);
  CHECK(summary.find("1 unsigned reservation(s) released") != std::string::npos);
}

TEST_CASE("unknown attempts from an earlier start stay listed until they are reconciled") {
  TempDir dir;
  const auto path = dir.file("l.db");
  const Stranded s = leave_attempts_in_flight(path);
  { Ledger first(options_for(path, OpenMode::owner)); }
  {
    Ledger second(options_for(path, OpenMode::owner));
    CHECK(second.recovery().marked_unknown.empty());
    CHECK(second.recovery().awaiting_reconciliation.size() == 2);
    ok(second.finalize(s.signed_, outcome_of(AttemptState::failed, "never reached merchant")));
  }
  Ledger third(options_for(path, OpenMode::owner));
  CHECK(ids(third.recovery().awaiting_reconciliation) == std::vector<std::int64_t>{s.submitted});
  CHECK(ok(third.held_in_window("agent:alice:day", 0)).amount == 120);
  CHECK(ok(third.cached_held("agent:alice:day", 0)).amount == 120);
  CHECK(ok(third.cached_held("agent:alice:day", 0)).count ==
        ok(third.held_in_window("agent:alice:day", 0)).count);
}

TEST_CASE("a shared connection leaves attempts in flight alone") {
  TempDir dir;
  const auto path = dir.file("l.db");
  const Stranded s = leave_attempts_in_flight(path);
  Ledger shared(options_for(path, OpenMode::shared));
  CHECK(shared.recovery().empty());
  CHECK(ok(shared.get_attempt(s.signed_))->state == AttemptState::signed_);
  CHECK(ok(shared.get_attempt(s.reserved))->state == AttemptState::reserved);
}

TEST_CASE("a second owner is refused while the first holds the ledger, and welcome after") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger first(options_for(path, OpenMode::owner));
    try {
      Ledger second(options_for(path, OpenMode::owner));
      FAIL("two owners opened one ledger");
    } catch (const LedgerOpenError& e) {
      CHECK(std::string(e.what()).find("owned by another running 402flow") != std::string::npos);
    }
    Ledger reader(options_for(path, OpenMode::shared));  // the CLI still works
    CHECK(ok(reader.verify_chain()).ok);
  }
  Ledger next(options_for(path, OpenMode::owner));
  CHECK(next.recovery().empty());
}

TEST_CASE("the recovery summary says when nothing was in flight") {
  RecoveryReport empty;
  CHECK(empty.summary() == "ledger recovery: nothing was in flight");
}
