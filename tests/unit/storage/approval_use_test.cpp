// Approvals found again by their request, used by one attempt, expired, listed, and migrated.
#include <doctest/doctest.h>

#include "ledger_fixture.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_connection.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

namespace {

ApprovalRequest ask_for(const PaymentIntent& intent, std::int64_t expires_at_ms) {
  ApprovalRequest req;
  req.subject() = intent.subject();
  req.decision_id = "dec_1";
  req.rule = "review.amount_over";
  req.offer = intent.offer;
  req.decimals = intent.decimals;
  req.expires_at_ms = expires_at_ms;
  return req;
}

ApprovalBinding binding_of(const PaymentIntent& intent) {
  ApprovalBinding b;
  b.subject() = intent.subject();
  b.offer = intent.offer;
  return b;
}

}  // namespace

TEST_CASE("a pending approval is found again by its request, and only by it") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  PaymentIntent in = make_intent("k", 5'000'000);
  in.url = "https://api.example.com/v1/quote?api_key=secret";
  const Approval a = ok(ledger.open_approval(ask_for(in, kStartMs + 60'000)));

  auto found = ok(ledger.find_pending_approval(binding_of(in)));
  REQUIRE(found.has_value());
  CHECK(found->id == a.id);
  // The stored URL is redacted; the binding's raw URL is compared as redacted.
  CHECK(found->request.url != in.url);

  ApprovalBinding cheaper = binding_of(in);
  cheaper.offer.amount = 4'000'000;
  CHECK(ok(ledger.find_pending_approval(cheaper)).has_value());
  ApprovalBinding dearer = binding_of(in);
  dearer.offer.amount = 5'000'001;
  CHECK_FALSE(ok(ledger.find_pending_approval(dearer)).has_value());
  ApprovalBinding other_payee = binding_of(in);
  other_payee.offer.pay_to = "0x0000000000000000000000000000000000000001";
  CHECK_FALSE(ok(ledger.find_pending_approval(other_payee)).has_value());
  ApprovalBinding other_agent = binding_of(in);
  other_agent.agent = "bob";
  CHECK_FALSE(ok(ledger.find_pending_approval(other_agent)).has_value());
  ApprovalBinding other_url = binding_of(in);
  other_url.url = "https://api.example.com/v1/quote?api_key=other";
  CHECK_FALSE(ok(ledger.find_pending_approval(other_url)).has_value());
  ApprovalBinding other_method = binding_of(in);
  other_method.method = "POST";
  CHECK_FALSE(ok(ledger.find_pending_approval(other_method)).has_value());

  // Past its expiry (not yet swept) it is not reused; decided, neither.
  clock.set_ms(kStartMs + 60'000);
  CHECK_FALSE(ok(ledger.find_pending_approval(binding_of(in))).has_value());
  clock.set_ms(kStartMs);
  ok(ledger.resolve_approval(a.id, ApprovalState::denied, "ops", "no"));
  CHECK_FALSE(ok(ledger.find_pending_approval(binding_of(in))).has_value());
}

TEST_CASE("an approved approval is used once, by the reservation that names it") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  PaymentIntent in = make_intent("k1", 5'000'000);
  const Approval a = ok(ledger.open_approval(ask_for(in, kStartMs + 60'000)));

  // Still pending: a reservation naming it fails whole, nothing reserved.
  in.approval_id = a.id;
  auto early = ledger.reserve(in, {});
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code == LedgerErrorCode::illegal_transition);
  CHECK_FALSE(ok(ledger.find_attempt("alice", "k1")).has_value());

  ok(ledger.resolve_approval(a.id, ApprovalState::approved, "ops", "fine"));
  const Attempt paid = reserve_new(ledger, in);
  CHECK(paid.intent.approval_id == a.id);
  const Approval used = *ok(ledger.get_approval(a.id));
  CHECK(used.state == ApprovalState::used);
  CHECK(used.attempt_id == paid.id);
  CHECK(used.used_at_ms == kStartMs);
  CHECK(used.note == "fine");

  // A second use fails, and takes its reservation with it.
  PaymentIntent again = make_intent("k2", 5'000'000);
  again.approval_id = a.id;
  auto second = ledger.reserve(again, {});
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == LedgerErrorCode::illegal_transition);
  CHECK_FALSE(ok(ledger.find_attempt("alice", "k2")).has_value());
  auto direct = ledger.use_approval(a.id, 99);
  REQUIRE_FALSE(direct.ok());
  CHECK(direct.error().code == LedgerErrorCode::illegal_transition);
  CHECK(ok(ledger.get_approval(a.id))->attempt_id == paid.id);
  auto unknown = ledger.use_approval("apr_nope", 1);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == LedgerErrorCode::not_found);
}

TEST_CASE("expire_approvals returns the approvals it expired") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const Approval soon = ok(ledger.open_approval(ask_for(make_intent("a", 1), kStartMs + 1'000)));
  const Approval later = ok(ledger.open_approval(ask_for(make_intent("b", 2), kStartMs + 9'000)));
  CHECK(ok(ledger.expire_approvals()).empty());
  clock.set_ms(kStartMs + 1'000);
  const auto expired = ok(ledger.expire_approvals());
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].id == soon.id);
  CHECK(expired[0].state == ApprovalState::expired);
  CHECK(expired[0].resolved_at_ms == kStartMs + 1'000);
  CHECK(expired[0].resolved_by == "402flow");
  CHECK(ok(ledger.get_approval(soon.id))->state == ApprovalState::expired);
  CHECK(ok(ledger.get_approval(later.id))->state == ApprovalState::pending);
  CHECK(ok(ledger.expire_approvals()).empty());
}

TEST_CASE("approvals are listed newest first, by state, a page at a time") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(
        ok(ledger.open_approval(ask_for(make_intent("k", 10 + i), kStartMs + 60'000))).id);
  }
  ok(ledger.resolve_approval(ids[1], ApprovalState::denied, "ops", ""));

  ApprovalFilter all;
  all.limit = 2;
  const auto first = ok(ledger.approvals(all));
  REQUIRE(first.size() == 2);
  CHECK(first[0].id == ids[4]);
  CHECK(first[1].id == ids[3]);
  all.before = first[1].id;
  const auto second = ok(ledger.approvals(all));
  REQUIRE(second.size() == 2);
  CHECK(second[0].id == ids[2]);
  CHECK(second[1].id == ids[1]);

  ApprovalFilter pending;
  pending.state = ApprovalState::pending;
  const auto open = ok(ledger.approvals(pending));
  REQUIRE(open.size() == 4);
  CHECK(open.back().id == ids[0]);
  ApprovalFilter denied;
  denied.state = ApprovalState::denied;
  REQUIRE(ok(ledger.approvals(denied)).size() == 1);

  ApprovalFilter bad;
  bad.before = "apr_unknown";
  auto refused = ledger.approvals(bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == LedgerErrorCode::not_found);
}

TEST_CASE("a version 3 ledger keeps its approvals and can use them after migrating") {
  TempDir dir;
  const auto path = dir.file("v3.db");
  {
    sql::Connection db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec_or_throw("PRAGMA journal_mode = WAL", "wal");
    apply_migrations(db, ledger_migrations().first(3));
    db.exec_or_throw(
        "INSERT INTO approvals (id, decision_id, agent, merchant_origin, method, url, rule, "
        "protocol, scheme, network, asset, amount, decimals, pay_to, resource, state, "
        "created_at_ms, expires_at_ms, resolved_at_ms, resolved_by, note) VALUES "
        "('apr_old', 'dec_old', 'alice', 'https://api.example.com', 'GET', "
        "'https://api.example.com/v1/quote', 'review.amount_over', 'x402', 'exact', "
        "'eip155:8453', '0x833589fcd6edb6e08f4c7c32d4f71b54bda02913', '5000000', 6, "
        "'0x209693bc6afc0c5328ba36faf03c514ef312287c', 'https://api.example.com/v1/quote', "
        "'approved', 1, 0, 2, 'ops', 'ok'), "
        "('apr_two', 'dec_two', 'alice', 'https://api.example.com', 'GET', "
        "'https://api.example.com/v1/other', 'review.amount_over', 'x402', 'exact', "
        "'eip155:8453', '0xa', '1', 6, '0xb', '', 'pending', 3, 0, 0, '', '')",
        "v3 approvals");
  }
  RawDb before(path);
  CHECK(before.integer("PRAGMA user_version") == 3);
  FakeClock clock;
  Ledger ledger(options_for(path, OpenMode::shared, &clock));
  CHECK(ledger.schema_version() == latest_schema_version());
  CHECK(latest_schema_version() >= 4);
  const auto old = ok(ledger.get_approval("apr_old"));
  REQUIRE(old.has_value());
  CHECK(old->state == ApprovalState::approved);
  CHECK(old->note == "ok");
  CHECK(old->attempt_id == 0);
  CHECK(old->request.offer.amount == 5'000'000);
  // Their order (the listing's) survives the table's rebuild.
  const auto listed = ok(ledger.approvals({}));
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].id == "apr_two");
  CHECK(listed[1].id == "apr_old");

  PaymentIntent in = make_intent("k", 5'000'000);
  in.approval_id = "apr_old";
  const Attempt paid = reserve_new(ledger, in);
  CHECK(ok(ledger.get_approval("apr_old"))->state == ApprovalState::used);
  CHECK(ok(ledger.get_approval("apr_old"))->attempt_id == paid.id);
}
