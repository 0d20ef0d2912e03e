#include <doctest/doctest.h>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

TEST_CASE(
    "spend splits each agent's and merchant's money into settled, in flight and unknown, "
    "and leaves failed and released out") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  auto settle = [&](const Attempt& a) {
    ok(ledger.mark_signed(a.id, signed_details()));
    ok(ledger.mark_submitted(a.id));
    ok(ledger.finalize(a.id, settled_outcome()));
  };
  settle(reserve_new(ledger, make_intent("1", 100, "alice", "https://a.example")));
  settle(reserve_new(ledger, make_intent("2", 200, "alice", "https://b.example")));
  reserve_new(ledger, make_intent("3", 40, "alice", "https://a.example"));  // in flight
  const Attempt unknown = reserve_new(ledger, make_intent("4", 7, "bob", "https://a.example"));
  ok(ledger.mark_signed(unknown.id, signed_details()));
  ok(ledger.finalize(unknown.id, outcome_of(AttemptState::unknown)));
  const Attempt failed = reserve_new(ledger, make_intent("5", 1000, "bob", "https://a.example"));
  ok(ledger.mark_signed(failed.id, signed_details()));
  ok(ledger.finalize(failed.id, outcome_of(AttemptState::failed)));
  ok(ledger.release(reserve_new(ledger, make_intent("6", 5000, "bob")).id,
                    flow::payment::Reason::client_closed, "abandoned"));

  const SpendReport report = ok(ledger.spend());
  REQUIRE(report.by_agent.size() == 2);
  const SpendBySubject& alice = report.by_agent[0];
  CHECK(alice.subject == "alice");
  CHECK(alice.settled == 300);
  CHECK(alice.in_flight == 40);
  CHECK(alice.unknown == 0);
  CHECK(alice.payments == 3);
  const SpendBySubject& bob = report.by_agent[1];
  CHECK(bob.subject == "bob");
  CHECK(bob.settled == 0);
  CHECK(bob.unknown == 7);
  CHECK(bob.payments == 1);

  REQUIRE(report.by_merchant.size() == 2);
  CHECK(report.by_merchant[0].subject == "https://a.example");
  CHECK(report.by_merchant[0].settled == 100);
  CHECK(report.by_merchant[0].in_flight == 40);
  CHECK(report.by_merchant[0].unknown == 7);
  CHECK(report.by_merchant[1].subject == "https://b.example");
  CHECK(report.by_merchant[1].settled == 200);
}

TEST_CASE("a payee counts as paid only once a payment to it has settled on that network") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const PaymentIntent in = make_intent("k", 10);
  CHECK_FALSE(ok(ledger.has_paid(in.offer.network, in.offer.pay_to)));
  const Attempt a = reserve_new(ledger, in);
  ok(ledger.mark_signed(a.id, signed_details()));
  ok(ledger.mark_submitted(a.id));
  CHECK_FALSE(ok(ledger.has_paid(in.offer.network, in.offer.pay_to)));
  ok(ledger.finalize(a.id, settled_outcome()));
  CHECK(ok(ledger.has_paid(in.offer.network, in.offer.pay_to)));
  CHECK_FALSE(ok(ledger.has_paid("solana:mainnet", in.offer.pay_to)));
}

TEST_CASE("ledger error names are stable") {
  CHECK(ledger_error_name(LedgerErrorCode::illegal_transition) == "illegal_transition");
  CHECK(ledger_error_name(LedgerErrorCode::queue_full) == "queue_full");
  CHECK(LedgerError{LedgerErrorCode::not_found, "attempt 7"}.describe() == "not_found: attempt 7");
}
