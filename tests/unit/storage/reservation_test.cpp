#include <doctest/doctest.h>

#include <map>
#include <random>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;
using flow::payment::Atomic;
using flow::policy::ReasonCode;

TEST_CASE("an amount cap admits payments up to exactly the cap and refuses the next unit") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const std::vector caps{amount_cap("agent:alice:day", 100)};
  reserve_new(ledger, make_intent("a", 40), caps);
  reserve_new(ledger, make_intent("b", 40), caps);
  reserve_new(ledger, make_intent("c", 20), caps);  // exactly 100
  const ReserveOutcome over = ok(ledger.reserve(make_intent("d", 1), caps));
  REQUIRE(over.status == ReserveStatus::refused);
  REQUIRE(over.refusal.has_value());
  CHECK(over.refusal->limit == CapLimit::amount);
  CHECK(over.refusal->held_amount == 100);
  CHECK(over.refusal->held_count == 3);
  CHECK(over.refusal->reason == ReasonCode::over_agent_cap);
  CHECK(over.refusal->rule == "agents[alice].caps.daily");
  CHECK_FALSE(over.attempt.has_value());
  CHECK_FALSE(ok(ledger.find_attempt("alice", "d")).has_value());
}

TEST_CASE("a count cap refuses the payment after max_count, whatever its amount") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const std::vector caps{count_cap("merchant:api:day", 2, 0, ReasonCode::over_merchant_cap,
                                   "merchants[api].caps.daily")};
  reserve_new(ledger, make_intent("a", 1), caps);
  reserve_new(ledger, make_intent("b", 1), caps);
  const ReserveOutcome third = ok(ledger.reserve(make_intent("c", 1), caps));
  REQUIRE(third.status == ReserveStatus::refused);
  CHECK(third.refusal->limit == CapLimit::count);
  CHECK(third.refusal->reason == ReasonCode::over_merchant_cap);
  CHECK(third.refusal->held_count == 2);
}

TEST_CASE("the refusal names the first cap in order that would be exceeded, and holds nothing") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const std::vector caps{
      amount_cap("agent:alice:day", 1000, 0, ReasonCode::over_agent_cap, "agents[alice].daily"),
      amount_cap("merchant:api:day", 50, 0, ReasonCode::over_merchant_cap, "merchants[api].daily"),
      amount_cap("org:day", 10, 0, ReasonCode::over_org_cap, "organization.daily"),
  };
  const ReserveOutcome r = ok(ledger.reserve(make_intent("a", 60), caps));
  REQUIRE(r.status == ReserveStatus::refused);
  CHECK(r.refusal->counter_key == "merchant:api:day");
  CHECK(r.refusal->reason == ReasonCode::over_merchant_cap);
  CHECK(r.refusal->rule == "merchants[api].daily");
  for (const auto& cap : caps) {
    CAPTURE(cap.counter_key);
    CHECK(ok(ledger.held_in_window(cap.counter_key, 0)).count == 0);
  }
  // A payment that fits all three is held against all three.
  reserve_new(ledger, make_intent("b", 10), caps);
  for (const auto& cap : caps) CHECK(ok(ledger.held_in_window(cap.counter_key, 0)).amount == 10);
}

TEST_CASE(
    "a reservation made before window_start does not count; one at exactly window_start "
    "does") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const std::int64_t day = clock.seconds();  // the window boundary, in seconds
  const std::string key = "agent:alice:day";

  clock.set_ms(day * 1000 - 1);  // the last millisecond of the previous window
  reserve_new(ledger, make_intent("late", 60), {amount_cap(key, 100, day - 86'400)});

  clock.set_s(day);
  reserve_new(ledger, make_intent("first", 60), {amount_cap(key, 100, day)});
  CHECK(ok(ledger.held_in_window(key, day)).amount == 60);
  CHECK(ok(ledger.held_in_window(key, day)).count == 1);
  CHECK(ok(ledger.held_in_window(key, day - 86'400)).amount == 120);

  clock.set_s(day + 10);
  CHECK(ok(ledger.reserve(make_intent("over", 41), {amount_cap(key, 100, day)})).status ==
        ReserveStatus::refused);
  reserve_new(ledger, make_intent("exact", 40), {amount_cap(key, 100, day)});
  CHECK(ok(ledger.held_in_window(key, day)).amount == 100);

  // A rolling window that starts one second later leaves "first" out.
  CHECK(ok(ledger.reserve(make_intent("rolling", 60), {amount_cap(key, 100, day + 1)})).status ==
        ReserveStatus::reserved);
}

TEST_CASE("released and failed attempts stop counting; unknown and settled keep counting") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const std::string key = "agent:alice:day";
  const std::vector caps{amount_cap(key, 100), count_cap(key + ":n", 2)};

  const Attempt released = reserve_new(ledger, make_intent("released", 50), caps);
  ok(ledger.release(released.id, flow::payment::Reason::client_closed, "client went away"));

  const Attempt failed = reserve_new(ledger, make_intent("failed", 50), caps);
  ok(ledger.mark_signed(failed.id, signed_details()));
  ok(ledger.finalize(failed.id, outcome_of(AttemptState::failed, "402 again")));
  CHECK(ok(ledger.held_in_window(key, 0)).amount == 0);

  const Attempt unknown = reserve_new(ledger, make_intent("unknown", 50), caps);
  ok(ledger.mark_signed(unknown.id, signed_details()));
  ok(ledger.mark_submitted(unknown.id));
  ok(ledger.finalize(unknown.id, outcome_of(AttemptState::unknown, "timeout")));

  const Attempt settled = reserve_new(ledger, make_intent("settled", 50), caps);
  ok(ledger.mark_signed(settled.id, signed_details()));
  ok(ledger.mark_submitted(settled.id));
  ok(ledger.finalize(settled.id, settled_outcome()));

  CHECK(ok(ledger.held_in_window(key, 0)).amount == 100);
  CHECK(ok(ledger.held_in_window(key + ":n", 0)).count == 2);
  const ReserveOutcome next = ok(ledger.reserve(make_intent("next", 1), caps));
  CHECK(next.status == ReserveStatus::refused);
}

TEST_CASE("caps that share a counter key are each checked and the payment is held once") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const std::string key = "agent:alice:day";
  const std::vector caps{amount_cap(key, 100), count_cap(key, 5)};
  reserve_new(ledger, make_intent("a", 30), caps);
  reserve_new(ledger, make_intent("b", 30), caps);
  CHECK(ok(ledger.held_in_window(key, 0)).amount == 60);
  CHECK(ok(ledger.held_in_window(key, 0)).count == 2);
  const auto spend = ok(ledger.spend());
  REQUIRE(spend.counters.size() == 1);
  CHECK(spend.counters[0].held_amount == 60);
  CHECK(spend.counters[0].held_count == 2);
}

TEST_CASE("cap arithmetic is exact at 128 bits and refuses instead of wrapping") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Atomic max = ~Atomic{0};
  const Atomic half = Atomic{1} << 127;
  const std::vector caps{amount_cap("huge", max)};
  reserve_new(ledger, make_intent("a", half), caps);
  reserve_new(ledger, make_intent("b", half - 1), caps);  // exactly 2^128 - 1
  CHECK(ok(ledger.held_in_window("huge", 0)).amount == max);
  const ReserveOutcome over = ok(ledger.reserve(make_intent("c", 1), caps));
  CHECK(over.status == ReserveStatus::refused);
  CHECK(over.refusal->limit == CapLimit::amount);
}

TEST_CASE("each counter's limits are recorded so spend needs no policy file") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  auto cap = amount_cap("agent:alice:day", 5'000'000, clock.seconds(), ReasonCode::over_agent_cap,
                        "agents[alice].caps.daily");
  cap.max_count = 100;
  reserve_new(ledger, make_intent("a", 1'250'000), {cap});
  const auto spend = ok(ledger.spend());
  REQUIRE(spend.counters.size() == 1);
  const CounterTotals& c = spend.counters[0];
  CHECK(c.rule == "agents[alice].caps.daily");
  CHECK(c.reason == "over_agent_cap");
  CHECK(c.max_amount == Atomic{5'000'000});
  CHECK(c.max_count == std::uint64_t{100});
  CHECK(c.window_start == clock.seconds());
  CHECK(c.held_amount == 1'250'000);
  CHECK(c.decimals == 6);
  CHECK(c.network == "eip155:8453");
}

TEST_CASE("a refused reservation still records the cap so spend shows it") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  ok(ledger.reserve(make_intent("a", 10), {amount_cap("tiny", 5)}));
  const auto spend = ok(ledger.spend());
  REQUIRE(spend.counters.size() == 1);
  CHECK(spend.counters[0].held_amount == 0);
  CHECK(spend.counters[0].max_amount == Atomic{5});
}

// The counters table caches sums over reservations; whatever happens, the cache must equal the
// contract's definition computed from the rows themselves.
TEST_CASE("cached counter totals always equal the reservations they summarize") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  std::mt19937 rng(20260101);
  const std::int64_t base = clock.seconds();
  const std::vector<std::string> keys{"k0", "k1", "k2"};
  std::vector<std::int64_t> live;  // attempts that can still move
  std::map<std::string, std::int64_t> window;
  for (const auto& k : keys) window[k] = base;

  for (int step = 0; step < 600; ++step) {
    clock.set_s(base + step);
    const int action = static_cast<int>(rng() % 10);
    if (action < 5 || live.empty()) {
      // Windows move forward mostly, sometimes back (a policy reload with a longer window).
      std::vector<flow::policy::CapCheck> caps;
      for (const auto& k : keys) {
        if (rng() % 2 == 0) continue;
        const int move = static_cast<int>(rng() % 7);
        if (move < 4) window[k] += static_cast<std::int64_t>(rng() % 5);
        if (move == 6) window[k] -= static_cast<std::int64_t>(rng() % 30);
        caps.push_back(amount_cap(k, 1'000'000, window[k]));
      }
      const ReserveOutcome r =
          ok(ledger.reserve(make_intent("s" + std::to_string(step), 1 + rng() % 50), caps));
      if (r.status == ReserveStatus::reserved) live.push_back(r.attempt->id);
    } else {
      const std::size_t i = rng() % live.size();
      const std::int64_t id = live[i];
      const AttemptState state = ok(ledger.get_attempt(id))->state;
      const int pick = static_cast<int>(rng() % 3);
      if (state == AttemptState::reserved) {
        if (pick == 0) {
          ok(ledger.release(id, flow::payment::Reason::client_closed, "test"));
        } else {
          ok(ledger.mark_signed(id, signed_details()));
        }
      } else if (state == AttemptState::signed_) {
        ok(ledger.mark_submitted(id));
      } else if (state == AttemptState::submitted || state == AttemptState::unknown) {
        const AttemptState end = pick == 0   ? AttemptState::failed
                                 : pick == 1 ? AttemptState::settled
                                             : AttemptState::unknown;
        if (end != state) ok(ledger.finalize(id, outcome_of(end)));
      }
      const AttemptState now = ok(ledger.get_attempt(id))->state;
      if (is_final(now)) live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    for (const CounterTotals& c : ok(ledger.spend()).counters) {
      const HeldTotals truth = ok(ledger.held_in_window(c.counter_key, c.window_start));
      CAPTURE(step);
      CAPTURE(c.counter_key);
      REQUIRE(c.held_amount == truth.amount);
      REQUIRE(c.held_count == truth.count);
    }
  }
}

// --- refused credentials stay reserved until they expire ---

namespace {

// Reserved, signed with `valid_before`, sent, and refused by the merchant.
Attempt refused_after_sending(Ledger& ledger, const std::string& key, Atomic amount,
                              const std::vector<flow::policy::CapCheck>& caps,
                              std::int64_t valid_before) {
  const Attempt a = reserve_new(ledger, make_intent(key, amount), caps);
  SignedDetails details = signed_details();
  details.valid_before = valid_before;
  ok(ledger.mark_signed(a.id, details));
  ok(ledger.mark_submitted(a.id));
  ok(ledger.finalize(a.id,
                     outcome_of(AttemptState::failed, "invalid_exact_evm_payload_signature")));
  return a;
}

}  // namespace

TEST_CASE("a credential refused after it left holds its budget until validBefore has passed") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const std::string key = "agent:alice:day";
  const std::vector caps{amount_cap(key, 100)};
  const std::int64_t valid_before = clock.seconds() + 600;
  const Attempt a = refused_after_sending(ledger, "a", 60, caps, valid_before);

  const auto stored = ok(ledger.get_attempt(a.id));
  REQUIRE(stored.has_value());
  CHECK(stored->state == AttemptState::failed);
  CHECK(stored->valid_before == valid_before);
  CHECK(stored->held_until == valid_before + kExpiryMarginSeconds);
  // Still held: a second payment that would exceed the cap is refused.
  CHECK(ok(ledger.cached_held(key, 0)).amount == 60);
  CHECK(ok(ledger.held_in_window(key, 0)).amount == 60);
  CHECK(ok(ledger.reserve(make_intent("b", 60), caps)).status == ReserveStatus::refused);
  CHECK(ok(ledger.spend()).by_agent.at(0).in_flight == 60);

  // Just before the hold ends: still held.
  clock.set_s(valid_before + kExpiryMarginSeconds - 1);
  CHECK(ok(ledger.reserve(make_intent("c", 60), caps)).status == ReserveStatus::refused);
  CHECK(ok(ledger.cached_held(key, 0)).amount == 60);

  // Expired: the authorization can no longer move money, so its amount is released.
  clock.set_s(valid_before + kExpiryMarginSeconds);
  CHECK(ok(ledger.cached_held(key, 0)).amount == 0);
  CHECK(ok(ledger.held_in_window(key, 0)).amount == 0);
  CHECK(ok(ledger.get_attempt(a.id))->held_until == 0);
  CHECK(ok(ledger.spend()).by_agent.empty());
  CHECK(ok(ledger.reserve(make_intent("d", 60), caps)).status == ReserveStatus::reserved);
  CHECK(ok(ledger.cached_held(key, 0)).amount == 60);
  CHECK(ok(ledger.held_in_window(key, 0)).amount == 60);
}

TEST_CASE("an expired hold is released by the reservation that needs the room") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const std::vector caps{amount_cap("agent:alice:day", 100)};
  const std::int64_t valid_before = clock.seconds() + 60;
  refused_after_sending(ledger, "a", 100, caps, valid_before);
  CHECK(ok(ledger.reserve(make_intent("b", 1), caps)).status == ReserveStatus::refused);
  clock.set_s(valid_before + kExpiryMarginSeconds + 1);
  // No read in between: reserve itself sweeps.
  CHECK(ok(ledger.reserve(make_intent("c", 100), caps)).status == ReserveStatus::reserved);
}

TEST_CASE("a refusal before the credential left releases the budget at once") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const std::vector caps{amount_cap("agent:alice:day", 100)};
  const Attempt a = reserve_new(ledger, make_intent("a", 60), caps);
  SignedDetails details = signed_details();
  details.valid_before = clock.seconds() + 600;
  ok(ledger.mark_signed(a.id, details));
  ok(ledger.finalize(a.id, outcome_of(AttemptState::failed, "the agent disconnected")));
  CHECK(ok(ledger.get_attempt(a.id))->held_until == 0);
  CHECK(ok(ledger.cached_held("agent:alice:day", 0)).amount == 0);
  CHECK(ok(ledger.reserve(make_intent("b", 60), caps)).status == ReserveStatus::reserved);
}

TEST_CASE("an unknown attempt reconciled as failed holds until validBefore; unknown holds on") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const std::string key = "agent:alice:day";
  const std::vector caps{amount_cap(key, 1000)};
  const std::int64_t valid_before = clock.seconds() + 300;
  std::vector<std::int64_t> ids;
  for (const char* k : {"u", "r"}) {
    const Attempt a = reserve_new(ledger, make_intent(k, 100), caps);
    SignedDetails details = signed_details();
    details.valid_before = valid_before;
    ok(ledger.mark_signed(a.id, details));
    ok(ledger.mark_submitted(a.id));
    ok(ledger.finalize(a.id, outcome_of(AttemptState::unknown, "no verdict")));
    ids.push_back(a.id);
  }
  ok(ledger.finalize(ids[1], outcome_of(AttemptState::failed, "reconciled: not on chain")));
  CHECK(ok(ledger.cached_held(key, 0)).amount == 200);
  clock.set_s(valid_before + kExpiryMarginSeconds);
  // The reconciled one is released once expired; the unknown one waits for the operator.
  CHECK(ok(ledger.cached_held(key, 0)).amount == 100);
  CHECK(ok(ledger.get_attempt(ids[0]))->state == AttemptState::unknown);
}

TEST_CASE("a refused credential already expired, or with no known expiry, is released at once") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const std::vector caps{amount_cap("agent:alice:day", 100)};
  refused_after_sending(ledger, "a", 100, caps, clock.seconds() - kExpiryMarginSeconds - 1);
  CHECK(ok(ledger.cached_held("agent:alice:day", 0)).amount == 0);
  refused_after_sending(ledger, "b", 100, caps, 0);
  CHECK(ok(ledger.cached_held("agent:alice:day", 0)).amount == 0);
}
