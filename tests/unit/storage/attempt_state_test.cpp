#include <doctest/doctest.h>

#include <set>
#include <utility>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;
using S = AttemptState;

TEST_CASE("the attempt state machine allows exactly the documented edges") {
  const std::set<std::pair<S, S>> allowed{
      {S::reserved, S::signed_},  {S::reserved, S::submitted}, {S::reserved, S::released},
      {S::signed_, S::submitted}, {S::signed_, S::failed},     {S::signed_, S::unknown},
      {S::submitted, S::settled}, {S::submitted, S::failed},   {S::submitted, S::unknown},
      {S::unknown, S::settled},   {S::unknown, S::failed},
  };
  for (S from : all_attempt_states()) {
    for (S to : all_attempt_states()) {
      CAPTURE(attempt_state_name(from));
      CAPTURE(attempt_state_name(to));
      CHECK(is_transition_allowed(from, to) == (allowed.count({from, to}) == 1));
    }
  }
}

TEST_CASE("money is held in every state except failed and released") {
  CHECK(holds_money(S::reserved));
  CHECK(holds_money(S::signed_));
  CHECK(holds_money(S::submitted));
  CHECK(holds_money(S::settled));
  CHECK(holds_money(S::unknown));
  CHECK_FALSE(holds_money(S::failed));
  CHECK_FALSE(holds_money(S::released));
}

TEST_CASE("state names round-trip and 'signed' is spelled as the ledger stores it") {
  for (S s : all_attempt_states()) CHECK(attempt_state_from_name(attempt_state_name(s)) == s);
  CHECK(attempt_state_name(S::signed_) == "signed");
  CHECK_FALSE(attempt_state_from_name("paid").has_value());
}

TEST_CASE("a payment goes reserved -> signed -> submitted -> settled with every field kept") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const Attempt reserved = reserve_new(ledger, make_intent("k", 10'000));
  CHECK(reserved.state == S::reserved);
  CHECK(reserved.times.reserved_at_ms == kStartMs);

  clock.set_ms(kStartMs + 5);
  const Attempt signed_attempt = ok(ledger.mark_signed(reserved.id, signed_details()));
  CHECK(signed_attempt.state == S::signed_);
  CHECK(signed_attempt.payer == "0x1111111111111111111111111111111111111111");
  CHECK(signed_attempt.times.signed_at_ms == kStartMs + 5);

  clock.set_ms(kStartMs + 7);
  CHECK(ok(ledger.mark_submitted(reserved.id)).times.submitted_at_ms == kStartMs + 7);

  clock.set_ms(kStartMs + 120);
  const Receipt receipt = ok(ledger.finalize(reserved.id, settled_outcome()));
  const Attempt& a = receipt.attempt;
  CHECK(a.state == S::settled);
  CHECK(a.settlement_ref == "0xfeed");
  CHECK(a.http_status == 200);
  CHECK(a.credential_ref == "nonce:0xabc");
  CHECK(a.times.finished_at_ms == kStartMs + 120);
  CHECK(a.intent.offer.amount == 10'000);

  auto stored = ok(ledger.get_attempt(reserved.id));
  REQUIRE(stored.has_value());
  CHECK(stored->state == S::settled);
  CHECK(stored->evidence == settled_outcome().evidence);
}

TEST_CASE("an illegal transition is an error value and changes nothing") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("k", 10));

  auto skipped = ledger.finalize(a.id, settled_outcome());  // reserved -> settled
  REQUIRE_FALSE(skipped.ok());
  CHECK(skipped.error().code == LedgerErrorCode::illegal_transition);
  CHECK(skipped.error().detail == "attempt " + std::to_string(a.id) + ": reserved -> settled");
  CHECK(ok(ledger.get_attempt(a.id))->state == S::reserved);
  CHECK(ok(ledger.receipts({})).empty());

  ok(ledger.mark_signed(a.id, signed_details()));
  ok(ledger.mark_submitted(a.id));
  ok(ledger.finalize(a.id, settled_outcome()));
  auto again = ledger.mark_signed(a.id, signed_details());  // settled is final
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == LedgerErrorCode::illegal_transition);
  CHECK(ok(ledger.receipts({})).size() == 1);
}

TEST_CASE("a transition of an attempt that does not exist is not_found") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  auto r = ledger.mark_submitted(999);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == LedgerErrorCode::not_found);
}

TEST_CASE("finalize accepts only settled, failed or unknown") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("k", 10));
  ok(ledger.mark_signed(a.id, signed_details()));
  auto r = ledger.finalize(a.id, outcome_of(S::released));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == LedgerErrorCode::invalid_argument);
}

TEST_CASE("the credential hash field refuses anything that is not a SHA-256 digest") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("k", 10));
  SignedDetails leaky = signed_details();
  leaky.credential_sha256 = "L402 AgEDbG5k...:d4a1preimage";  // a macaroon and preimage
  auto r = ledger.mark_signed(a.id, leaky);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == LedgerErrorCode::invalid_argument);
  CHECK(ok(ledger.get_attempt(a.id))->credential_sha256.empty());
}

TEST_CASE("an unknown outcome can be reconciled later, leaving one receipt per outcome") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("k", 10));
  ok(ledger.mark_signed(a.id, signed_details()));
  ok(ledger.mark_submitted(a.id));
  ok(ledger.finalize(a.id, outcome_of(S::unknown, "upstream timed out after the payment")));
  CHECK(ok(ledger.unknown_attempts()).size() == 1);

  const Receipt settled = ok(ledger.finalize(a.id, settled_outcome()));
  CHECK(settled.attempt.failure_reason.empty());
  CHECK(ok(ledger.unknown_attempts()).empty());
  const auto receipts = ok(ledger.receipts({}));
  REQUIRE(receipts.size() == 2);
  CHECK(receipts[0].attempt.state == S::unknown);
  CHECK(receipts[1].attempt.state == S::settled);
  CHECK(receipts[1].prev_hash == receipts[0].hash);
}

TEST_CASE("Lightning-style rails may go from reserved straight to submitted") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("k", 10));
  CHECK(ok(ledger.mark_submitted(a.id)).state == S::submitted);
}
