#include "flow/proxy/paid/payment_decision.hpp"

#include "flow/storage/decision.hpp"
#include "flow/storage/ledger_facts.hpp"

namespace flow::proxy {
namespace {

// The receipt of a settled attempt, for answering an idempotent replay with its id.
storage::Result<std::optional<storage::Receipt>> settled_receipt(storage::Ledger& ledger,
                                                                 const storage::Attempt& a) {
  storage::ReceiptFilter filter;
  filter.agent = a.intent.agent;
  filter.since_ms = a.times.reserved_at_ms;
  auto receipts = ledger.receipts(filter);
  if (!receipts.ok()) return receipts.error();
  std::optional<storage::Receipt> found;
  for (auto& r : receipts.value()) {
    if (r.attempt.id == a.id && r.attempt.state == storage::AttemptState::settled) found = r;
  }
  return found;
}

}  // namespace

storage::Result<DecideOutcome> decide_and_reserve(storage::Ledger& ledger, const DecideInput& in) {
  DecideOutcome out;
  if (in.agent_chose_key) {
    auto found = ledger.find_attempt(in.agent, in.idempotency_key);
    if (!found.ok()) return found.error();
    if (found.value()) {
      out.existing = std::move(*found.value());
      if (out.existing->state == storage::AttemptState::settled) {
        auto receipt = settled_receipt(ledger, *out.existing);
        if (!receipt.ok()) return receipt.error();
        out.existing_receipt = std::move(receipt.value());
      }
      return out;
    }
  }

  storage::LedgerSpendTotals totals(ledger);
  policy::PaymentRequest request;
  request.agent_id = in.agent;
  request.host = in.host;
  request.path = in.path;
  request.method = in.method;
  request.offers = in.offers;
  request.agent_max = in.agent_max;
  out.decision = policy::evaluate(*in.policy, request, totals.facts(), in.now);
  if (totals.failed()) {
    return storage::ledger_error(storage::LedgerErrorCode::storage_failed,
                                 "reading spend totals for the policy decision failed");
  }
  out.decision_id = storage::new_record_id("dec_");
  const policy::Decision& d = out.decision;
  const storage::RequestSubject subject{in.agent, in.merchant_origin, in.method, in.url};

  if (d.verdict == policy::Verdict::review && d.offer) {
    storage::ApprovalRequest ask;
    ask.subject() = subject;
    ask.decision_id = out.decision_id;
    ask.rule = d.rule;
    ask.offer = *d.offer;
    ask.decimals = d.decimals;
    ask.expires_at_ms = (in.now + d.approval_ttl.count()) * 1000;
    auto approval = ledger.open_approval(ask);
    if (!approval.ok()) return approval.error();
    out.approval_id = approval.value().id;
  }

  storage::DecisionRecord record;
  record.subject() = subject;
  record.id = out.decision_id;
  record.outcome = d.verdict;
  record.reason = d.reason;
  record.rule = d.rule;
  record.offers_seen = in.offers_seen;
  record.protocols_offered = in.protocols_offered;
  record.offer = d.offer;
  record.decimals = d.decimals;
  record.approval_id = out.approval_id;
  if (auto r = ledger.record_decision(record); !r.ok()) return r.error();

  if (d.verdict == policy::Verdict::allow && !in.prepare_only && d.offer) {
    storage::PaymentIntent intent;
    intent.subject() = subject;
    intent.idempotency_key = in.idempotency_key;
    intent.offer = *d.offer;
    intent.decimals = d.decimals;
    intent.decision_id = out.decision_id;
    intent.rule = d.rule;
    auto reserved = ledger.reserve(intent, d.caps);
    if (!reserved.ok()) return reserved.error();
    out.reserve = std::move(reserved.value());
  }
  return out;
}

}  // namespace flow::proxy
