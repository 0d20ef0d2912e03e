#include <doctest/doctest.h>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

TEST_CASE("reserving the same agent and key again returns the existing attempt, not a new one") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const std::vector caps{count_cap("agent:alice:day", 1)};
  const Attempt first = reserve_new(ledger, make_intent("req-1", 10), caps);

  // The cap is now full: a new payment would be refused, but a retry is not a new payment.
  const ReserveOutcome retry = ok(ledger.reserve(make_intent("req-1", 10), caps));
  CHECK(retry.status == ReserveStatus::existing);
  REQUIRE(retry.attempt.has_value());
  CHECK(retry.attempt->id == first.id);
  CHECK(ok(ledger.held_in_window("agent:alice:day", 0)).count == 1);

  const ReserveOutcome other = ok(ledger.reserve(make_intent("req-2", 10), caps));
  CHECK(other.status == ReserveStatus::refused);
}

TEST_CASE("the existing attempt comes back in its current state so its credential is reused") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt first = reserve_new(ledger, make_intent("req-1", 10));
  ok(ledger.mark_signed(first.id, signed_details()));

  const ReserveOutcome retry = ok(ledger.reserve(make_intent("req-1", 10), {}));
  REQUIRE(retry.status == ReserveStatus::existing);
  CHECK(retry.attempt->state == AttemptState::signed_);
  CHECK(retry.attempt->credential_ref == "nonce:0xabc");
  CHECK(retry.attempt->credential_sha256 == std::string(64, 'a'));
}

TEST_CASE("the same idempotency key from a different agent is a different attempt") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt alice = reserve_new(ledger, make_intent("req-1", 10, "alice"));
  const Attempt bob = reserve_new(ledger, make_intent("req-1", 10, "bob"));
  CHECK(alice.id != bob.id);
  CHECK(ok(ledger.find_attempt("bob", "req-1"))->id == bob.id);
  CHECK_FALSE(ok(ledger.find_attempt("carol", "req-1")).has_value());
}

TEST_CASE("a failed attempt's key still returns that attempt: the ledger never pays it again") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("req-1", 10));
  ok(ledger.mark_signed(a.id, signed_details()));
  ok(ledger.finalize(a.id, outcome_of(AttemptState::failed, "merchant refused the signature")));
  const ReserveOutcome retry = ok(ledger.reserve(make_intent("req-1", 10), {}));
  CHECK(retry.status == ReserveStatus::existing);
  CHECK(retry.attempt->state == AttemptState::failed);
}

TEST_CASE("a reservation without an agent or an idempotency key is refused as invalid") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  auto no_key = ledger.reserve(make_intent("", 10), {});
  REQUIRE_FALSE(no_key.ok());
  CHECK(no_key.error().code == LedgerErrorCode::invalid_argument);
  auto no_agent = ledger.reserve(make_intent("k", 10, ""), {});
  REQUIRE_FALSE(no_agent.ok());
  CHECK(no_agent.error().code == LedgerErrorCode::invalid_argument);
}
