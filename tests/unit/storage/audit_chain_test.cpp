// The operator audit chain: records chained by hash and verified like receipts, the operator's
// actions written with their record in one transaction (or not at all).
#include <doctest/doctest.h>

#include "ledger_fixture.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

namespace {

AuditEntry entry(std::string actor, std::string action, std::string subject) {
  return {std::move(actor), std::move(action), std::move(subject), R"({"why":"test"})"};
}

Approval open_pending(Ledger& ledger, std::int64_t expires_at_ms) {
  ApprovalRequest req;
  req.decision_id = "dec_1";
  req.agent = "agent-a";
  req.merchant_origin = "https://api.example.com";
  req.rule = "review.amount_over";
  req.offer = make_intent("x", 5'000'000).offer;
  req.decimals = 6;
  req.expires_at_ms = expires_at_ms;
  return ok(ledger.open_approval(req));
}

}  // namespace

TEST_CASE("audit records chain by hash, newest first, and the chain verifies") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  CHECK(ok(ledger.verify_audit_chain()).ok);
  const AuditRecord first = ok(ledger.append_audit(entry("alice", "approve", "apr_1")));
  clock.set_ms(kStartMs + 1000);
  const AuditRecord second = ok(ledger.append_audit(entry("env", "policy_reload", "flow.yaml")));
  CHECK(first.seq == 1);
  CHECK(first.prev_hash == std::string(kGenesisHash));
  CHECK(second.prev_hash == first.hash);
  CHECK(second.id == make_audit_id(2, second.hash));
  CHECK(second.at_ms == kStartMs + 1000);

  const auto all = ok(ledger.audit({}));
  REQUIRE(all.size() == 2);
  CHECK(all[0].seq == 2);
  CHECK(all[1].entry.actor == "alice");
  AuditFilter only_reloads;
  only_reloads.action = "policy_reload";
  CHECK(ok(ledger.audit(only_reloads)).size() == 1);
  AuditFilter older;
  older.before_seq = 2;
  REQUIRE(ok(ledger.audit(older)).size() == 1);
  CHECK(ok(ledger.audit(older))[0].seq == 1);

  const ChainReport report = ok(ledger.verify_audit_chain());
  CHECK(report.ok);
  CHECK(report.rows_checked == 2);
  CHECK(report.head_seq == 2);
  CHECK(report.head_hash == second.hash);
}

TEST_CASE("an audit row edited, removed or added behind the ledger's back is caught") {
  TempDir dir;
  const auto path = dir.file("l.db");
  {
    Ledger ledger(options_for(path));
    for (int i = 0; i < 3; ++i)
      ok(ledger.append_audit(entry("alice", "deny", "apr_" + std::to_string(i))));
  }
  RawDb raw(path);
  raw.must("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
  SUBCASE("edited") {
    raw.must("UPDATE audit SET actor = 'mallory' WHERE seq = 2");
    const ChainReport r = ok(Ledger(options_for(path)).verify_audit_chain());
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_seq == 2);
    CHECK(r.problem == ChainProblem::hash_mismatch);
  }
  SUBCASE("removed from the middle") {
    raw.must("DELETE FROM audit WHERE seq = 2");
    const ChainReport r = ok(Ledger(options_for(path)).verify_audit_chain());
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_seq == 2);
    CHECK(r.problem == ChainProblem::missing_row);
  }
  SUBCASE("removed from the end") {
    raw.must("DELETE FROM audit WHERE seq = 3");
    const ChainReport r = ok(Ledger(options_for(path)).verify_audit_chain());
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_seq == 3);
    CHECK(r.problem == ChainProblem::missing_row);
  }
}

TEST_CASE("resolving an approval and its audit record happen together or not at all") {
  TempDir dir;
  FakeClock clock;
  Ledger ledger(options_for(dir.file("l.db"), OpenMode::shared, &clock));
  const Approval a = open_pending(ledger, kStartMs + 60'000);
  const Approval approved = ok(ledger.resolve_approval_audited(
      a.id, ApprovalState::approved, "looks right", entry("alice", "approve", a.id)));
  CHECK(approved.state == ApprovalState::approved);
  CHECK(approved.resolved_by == "alice");
  CHECK(ok(ledger.audit({})).size() == 1);

  // Refused (already decided): no audit record either.
  auto again =
      ledger.resolve_approval_audited(a.id, ApprovalState::denied, "", entry("bob", "deny", a.id));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == LedgerErrorCode::illegal_transition);
  CHECK(ok(ledger.audit({})).size() == 1);

  // Past its expiry: not approved, not audited.
  const Approval late = open_pending(ledger, kStartMs + 1000);
  clock.set_ms(kStartMs + 2000);
  auto expired = ledger.resolve_approval_audited(late.id, ApprovalState::approved, "",
                                                 entry("alice", "approve", late.id));
  CHECK(expired.error().code == LedgerErrorCode::illegal_transition);
  CHECK(ok(ledger.audit({})).size() == 1);
  CHECK(ok(ledger.verify_audit_chain()).ok);
}

TEST_CASE("only an unknown attempt is reconciled, with its audit record") {
  TempDir dir;
  Ledger ledger(options_for(dir.file("l.db")));
  const Attempt a = reserve_new(ledger, make_intent("k1", 100));
  ok(ledger.mark_signed(a.id, signed_details()));
  ok(ledger.mark_submitted(a.id));
  // Submitted, not unknown: refused.
  auto early = ledger.reconcile_attempt(a.id, settled_outcome(), entry("alice", "reconcile", "1"));
  CHECK(early.error().code == LedgerErrorCode::illegal_transition);
  ok(ledger.finalize(a.id, outcome_of(AttemptState::unknown)));

  Outcome failed;
  failed.state = AttemptState::failed;
  failed.failure_code = flow::payment::Reason::reconciled_failed;
  failed.failure_reason = "never settled";
  const Receipt r = ok(ledger.reconcile_attempt(a.id, failed, entry("alice", "reconcile", "1")));
  CHECK(r.attempt.state == AttemptState::failed);
  CHECK(r.attempt.failure_code == flow::payment::Reason::reconciled_failed);
  CHECK(ok(ledger.audit({})).size() == 1);
  auto twice = ledger.reconcile_attempt(a.id, settled_outcome(), entry("alice", "reconcile", "1"));
  CHECK(twice.error().code == LedgerErrorCode::illegal_transition);
  auto missing = ledger.reconcile_attempt(999, settled_outcome(), entry("alice", "reconcile", "9"));
  CHECK(missing.error().code == LedgerErrorCode::not_found);
  CHECK(ok(ledger.audit({})).size() == 1);
}
