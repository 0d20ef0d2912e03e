#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flow/payment/payment_rail.hpp"
#include "flow/payment/reason.hpp"
#include "flow/policy/policy_eval.hpp"
#include "flow/policy/policy_snapshot.hpp"
#include "flow/storage/ledger.hpp"

namespace flow::proxy {

// One 402 as the decision needs it. Built on the loop; everything is owned, because the
// decision runs on the ledger's writer thread.
struct DecideInput {
  std::shared_ptr<const policy::PolicySnapshot> policy;
  std::string agent;
  std::string host;
  std::string path;
  std::string method;
  std::string merchant_origin;  // "http://api.example.com:8080"
  std::string url;
  // The offers this proxy could sign, in the challenge's order. Offers it cannot sign never
  // reach policy, so policy always decides on something that can be signed.
  std::vector<policy::OfferCandidate> offers;
  std::vector<policy::UnitAmount> agent_max;
  std::string idempotency_key;
  bool agent_chose_key = false;  // the agent sent Idempotency-Key: look for an earlier attempt
  bool prepare_only = false;     // X-402flow-Mode: prepare: decide and record, never reserve
  int offers_seen = 0;
  std::string protocols_offered;  // the rail that read the challenge ("x402")
  std::int64_t now = 0;           // unix seconds
  // X-402flow-Approval, or the approval a held request was woken approved on: an approved,
  // unused approval bound to this request counts as the review; any other is answered
  // (DecideOutcome::approval_refusal) without paying.
  std::string approval_id;
};

struct DecideOutcome {
  // The agent already has an attempt under this Idempotency-Key: policy is not asked again
  // (the attempt already holds its budget) and no new payment is ever made.
  std::optional<storage::Attempt> existing;
  policy::Decision decision;
  std::string decision_id;
  std::string approval_id;  // review: the approval opened or reused; the approval used
  // The approval this decision is about: review's (opened or reused), the one named by
  // DecideInput::approval_id (as found, or as used by the reservation).
  std::optional<storage::Approval> approval;
  // Opened by this decision (not reused): the loop tells ApprovalDesk::opened().
  bool approval_new = false;
  // DecideInput::approval_id could not be used, nothing was evaluated or reserved:
  // approval_denied, approval_expired, approval_used or approval_mismatch. (A pending one is no
  // refusal: the decision is evaluated and, for review, waits on it.)
  std::optional<payment::Reason> approval_refusal;
  std::optional<storage::ReserveOutcome> reserve;    // allow (and not prepare_only)
  std::optional<storage::Receipt> existing_receipt;  // existing attempt that settled
  // A fresh reservation's credential, made by a rail that signs in the transaction and recorded
  // (mark_signed) in the same commit as the reservation: when the loop sees it, it is durable
  // and may leave the process.
  std::optional<payment::Credential> credential;
};

// Runs on the writer thread, inside its transaction: the policy reads the same ledger state the
// reservation then commits against. Records the decision; for review, reuses the pending
// approval bound to the same request or opens one. With an approved approval in hand, review
// rules count as met and the reservation uses the approval in its transaction.
storage::Result<DecideOutcome> decide_and_reserve(storage::Ledger& ledger, const DecideInput& in);

}  // namespace flow::proxy
