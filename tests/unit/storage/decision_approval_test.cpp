#include <doctest/doctest.h>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;
using flow::policy::ReasonCode;

namespace {

DecisionRecord decision(DecisionOutcome outcome, ReasonCode reason, const std::string& rule) {
  DecisionRecord d;
  d.id = new_record_id("dec_");
  d.agent = "alice";
  d.merchant_origin = "https://api.example.com";
  d.method = "GET";
  d.url = "https://api.example.com/v1/quote?api_key=sk_live_secret";
  d.outcome = outcome;
  d.reason = reason;
  d.rule = rule;
  d.offers_seen = 2;
  d.protocols_offered = "x402,l402";
  d.offer = make_intent("x", 10'000).offer;
  d.decimals = 6;
  return d;
}

}  // namespace

TEST_CASE("decisions are kept with their outcome, reason and rule, denials included") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    ok(ledger.record_decision(decision(DecisionOutcome::allow, ReasonCode::allowed, "agents[a]")));
    ok(ledger.record_decision(
        decision(DecisionOutcome::deny, ReasonCode::payto_not_allowed, "merchants[api].pay_to")));
  }
  RawDb raw(path);
  CHECK(raw.integer("SELECT count(*) FROM decisions") == 2);
  CHECK(raw.text("SELECT reason FROM decisions WHERE outcome = 'deny'") == "payto_not_allowed");
  CHECK(raw.text("SELECT rule FROM decisions WHERE outcome = 'deny'") == "merchants[api].pay_to");
  CHECK(raw.text("SELECT amount FROM decisions WHERE outcome = 'deny'") == "10000");
}

TEST_CASE("each decision counts against its merchant, and a settlement counts as paid") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  ok(ledger.record_decision(decision(DecisionOutcome::allow, ReasonCode::allowed, "r")));
  ok(ledger.record_decision(decision(DecisionOutcome::deny, ReasonCode::over_agent_cap, "r")));
  ok(ledger.record_decision(decision(DecisionOutcome::review, ReasonCode::review_required, "r")));
  const Attempt a = reserve_new(ledger, make_intent("k", 10));
  ok(ledger.mark_signed(a.id, signed_details()));
  ok(ledger.mark_submitted(a.id));
  ok(ledger.finalize(a.id, settled_outcome()));

  const auto merchants = ok(ledger.observed_merchants());
  REQUIRE(merchants.size() == 1);
  const ObservedMerchant& m = merchants[0];
  CHECK(m.origin == "https://api.example.com");
  CHECK(m.challenges == 3);
  CHECK(m.allowed == 1);
  CHECK(m.denied == 1);
  CHECK(m.reviewed == 1);
  CHECK(m.paid == 1);
  CHECK(m.protocols == "x402,l402");
}

TEST_CASE("URL queries are hashed by default, so tokens in them never reach the ledger") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    PaymentIntent in = make_intent("k", 10);
    in.url = "https://api.example.com/v1/quote?api_key=sk_live_secret&q=1";
    in.offer.resource = in.url;
    const Attempt a = reserve_new(ledger, in);
    CHECK(a.intent.url.rfind("https://api.example.com/v1/quote?<sha256:", 0) == 0);
    ok(ledger.record_decision(decision(DecisionOutcome::allow, ReasonCode::allowed, "r")));
  }
  RawDb raw(path);
  for (const char* sql :
       {"SELECT count(*) FROM attempts WHERE url LIKE '%sk_live%' OR resource LIKE '%sk_live%'",
        "SELECT count(*) FROM decisions WHERE url LIKE '%sk_live%'"}) {
    CAPTURE(sql);
    CHECK(raw.integer(sql) == 0);
  }
}

TEST_CASE("URL query redaction keeps, hashes or drops the query as configured") {
  const std::string url = "https://a.example/p?token=abc#frag";
  CHECK(redact_url_query(url, UrlQueryMode::keep) == url);
  CHECK(redact_url_query(url, UrlQueryMode::drop) == "https://a.example/p?<redacted>");
  const std::string hashed = redact_url_query(url, UrlQueryMode::hash);
  CHECK(hashed.rfind("https://a.example/p?<sha256:", 0) == 0);
  CHECK(hashed.size() == std::string("https://a.example/p?<sha256:>").size() + 64);
  CHECK(redact_url_query("https://a.example/p?token=abc", UrlQueryMode::hash) == hashed);
  CHECK(redact_url_query("https://a.example/p", UrlQueryMode::hash) == "https://a.example/p");
}

TEST_CASE("with url_query keep, the full URL is stored") {
  TempDir dir;
  auto options = options_for(dir.file("l.db"));
  options.url_query = UrlQueryMode::keep;
  Ledger ledger(options);
  PaymentIntent in = make_intent("k", 10);
  in.url = "https://api.example.com/v1/quote?q=1";
  CHECK(reserve_new(ledger, in).intent.url == in.url);
}

TEST_CASE("an approval is pending until a person approves or denies it, once") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  ApprovalRequest req;
  req.decision_id = "dec_1";
  req.agent = "alice";
  req.merchant_origin = "https://api.example.com";
  req.rule = "merchants[api].review_above";
  req.offer = make_intent("x", 5'000'000).offer;
  req.decimals = 6;
  req.expires_at_ms = kStartMs + 60'000;
  const Approval opened = ok(ledger.open_approval(req));
  CHECK(opened.id.rfind("apr_", 0) == 0);
  CHECK(opened.state == ApprovalState::pending);
  CHECK(ok(ledger.pending_approvals()).size() == 1);

  const Approval approved =
      ok(ledger.resolve_approval(opened.id, ApprovalState::approved, "ops@example.com", "ok"));
  CHECK(approved.state == ApprovalState::approved);
  CHECK(approved.resolved_by == "ops@example.com");
  auto twice = ledger.resolve_approval(opened.id, ApprovalState::denied, "x", "");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == LedgerErrorCode::illegal_transition);
  CHECK(ok(ledger.get_approval(opened.id))->state == ApprovalState::approved);
  CHECK(ok(ledger.pending_approvals()).empty());
}

TEST_CASE("an approval past its expiry cannot be approved and is expired by expire_approvals") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  ApprovalRequest req;
  req.agent = "alice";
  req.merchant_origin = "https://api.example.com";
  req.offer = make_intent("x", 1).offer;
  req.expires_at_ms = kStartMs + 1'000;
  const Approval a = ok(ledger.open_approval(req));
  clock.set_ms(kStartMs + 1'000);
  auto late = ledger.resolve_approval(a.id, ApprovalState::approved, "ops", "");
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == LedgerErrorCode::illegal_transition);
  CHECK(ok(ledger.expire_approvals()).size() == 1);
  CHECK(ok(ledger.get_approval(a.id))->state == ApprovalState::expired);
  CHECK(ok(ledger.expire_approvals()).empty());
  auto missing = ledger.resolve_approval("apr_nope", ApprovalState::denied, "ops", "");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == LedgerErrorCode::not_found);
}
