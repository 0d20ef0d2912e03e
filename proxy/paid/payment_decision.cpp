#include "flow/proxy/paid/payment_decision.hpp"

#include <algorithm>

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

// Why an approval named by the agent (or woken on) cannot pay this request; nothing when it
// can (approved, unused, unexpired, bound to one of the offers) or is still pending.
std::optional<payment::Reason> approval_problem(const storage::Approval& a,
                                                const storage::RequestSubject& subject,
                                                const DecideInput& in,
                                                storage::UrlQueryMode url_query) {
  const bool bound = std::any_of(in.offers.begin(), in.offers.end(), [&](const auto& candidate) {
    storage::ApprovalBinding b;
    b.subject() = subject;
    b.offer = candidate.offer;
    return storage::approval_binds(a, b, url_query);
  });
  if (!bound) return payment::Reason::approval_mismatch;
  const bool past_expiry = a.request.expires_at_ms != 0 && in.now * 1000 >= a.request.expires_at_ms;
  switch (a.state) {
    case storage::ApprovalState::pending:
      return std::nullopt;
    case storage::ApprovalState::approved:
      // "An approval not used within approval_ttl expires": an approved one too.
      if (past_expiry) return payment::Reason::approval_expired;
      return std::nullopt;
    case storage::ApprovalState::denied:
      return payment::Reason::approval_denied;
    case storage::ApprovalState::expired:
      return payment::Reason::approval_expired;
    case storage::ApprovalState::used:
      return payment::Reason::approval_used;
  }
  return payment::Reason::approval_mismatch;
}

// Looks up the approval the request names. Sets out.approval (when found) and
// out.approval_refusal (when it cannot be used).
storage::Result<void> look_up_approval(storage::Ledger& ledger, const DecideInput& in,
                                       const storage::RequestSubject& subject, DecideOutcome& out) {
  auto found = ledger.get_approval(in.approval_id);
  if (!found.ok()) return found.error();
  if (!found.value()) {
    out.approval_refusal = payment::Reason::approval_mismatch;
    return {};
  }
  out.approval = std::move(*found.value());
  out.approval_refusal = approval_problem(*out.approval, subject, in, ledger.options().url_query);
  return {};
}

// Review: the pending approval bound to this request, or a new one.
storage::Result<void> approval_for_review(storage::Ledger& ledger, const DecideInput& in,
                                          const storage::RequestSubject& subject,
                                          DecideOutcome& out) {
  const policy::Decision& d = out.decision;
  storage::ApprovalBinding binding;
  binding.subject() = subject;
  binding.offer = *d.offer;
  auto pending = ledger.find_pending_approval(binding);
  if (!pending.ok()) return pending.error();
  if (pending.value()) {
    out.approval = std::move(*pending.value());
    out.approval_id = out.approval->id;
    return {};
  }
  storage::ApprovalRequest ask;
  ask.subject() = subject;
  ask.decision_id = out.decision_id;
  ask.rule = d.rule;
  ask.offer = *d.offer;
  ask.decimals = d.decimals;
  ask.expires_at_ms = (in.now + d.approval_ttl.count()) * 1000;
  auto opened = ledger.open_approval(ask);
  if (!opened.ok()) return opened.error();
  out.approval = std::move(opened).value();
  out.approval_id = out.approval->id;
  out.approval_new = true;
  return {};
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

  const storage::RequestSubject subject{in.agent, in.merchant_origin, in.method, in.url};
  std::optional<storage::Approval> in_hand;  // approved, bound, usable
  if (!in.approval_id.empty()) {
    if (auto looked = look_up_approval(ledger, in, subject, out); !looked.ok()) {
      return looked.error();
    }
    if (out.approval_refusal) return out;
    if (out.approval->state == storage::ApprovalState::approved) in_hand = out.approval;
  }

  storage::LedgerSpendTotals totals(ledger);
  policy::PaymentRequest request;
  request.agent_id = in.agent;
  request.host = in.host;
  request.path = in.path;
  request.method = in.method;
  request.offers = in.offers;
  request.agent_max = in.agent_max;
  if (in_hand) request.approved = &in_hand->request.offer;
  out.decision = policy::evaluate(*in.policy, request, totals.facts(), in.now);
  if (totals.failed()) {
    return storage::ledger_error(storage::LedgerErrorCode::storage_failed,
                                 "reading spend totals for the policy decision failed");
  }
  out.decision_id = storage::new_record_id("dec_");
  const policy::Decision& d = out.decision;

  if (d.verdict == policy::Verdict::review && d.offer) {
    if (auto asked = approval_for_review(ledger, in, subject, out); !asked.ok()) {
      return asked.error();
    }
  } else if (in_hand && d.verdict == policy::Verdict::allow && d.offer) {
    // Policy may have chosen another offer that needs no review: the approval is then not used.
    storage::ApprovalBinding chosen;
    chosen.subject() = subject;
    chosen.offer = *d.offer;
    if (storage::approval_binds(*in_hand, chosen, ledger.options().url_query)) {
      out.approval_id = in_hand->id;
    } else {
      in_hand.reset();
    }
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
    intent.approval_id = in_hand ? in_hand->id : std::string();
    auto reserved = ledger.reserve(intent, d.caps);
    if (!reserved.ok()) return reserved.error();
    out.reserve = std::move(reserved.value());
    if (in_hand && out.reserve->status == storage::ReserveStatus::reserved) {
      out.approval->state = storage::ApprovalState::used;
      out.approval->attempt_id = out.reserve->attempt->id;
    }
  }
  return out;
}

}  // namespace flow::proxy
