#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "flow/payment/offer.hpp"
#include "flow/payment/reason.hpp"
#include "flow/storage/attempt_state.hpp"
#include "flow/storage/request_subject.hpp"

namespace flow::storage {

// What the proxy is about to pay, recorded before any money can move. Never put a secret in
// any of these fields: the ledger keeps them forever and shows them to operators.
struct PaymentIntent : RequestSubject {
  std::string idempotency_key;  // unique per agent: the same logical request reuses its attempt
  payment::Offer offer;         // exactly the offer policy allowed and the adapter will sign
  unsigned decimals = 0;        // from the operator's asset table, never from the merchant
  std::string decision_id;      // DecisionRecord::id of the allow
  std::string rule;             // the policy rule that allowed it
  std::string approval_id;      // empty unless a human approved it
};

// What becomes known once the credential exists. No secrets: `credential_ref` is a public
// handle that lets the adapter rebuild or recognise the same credential (an EIP-3009 nonce, a
// Lightning payment hash); `credential_sha256` is the SHA-256 (lower-case hex) of the credential
// as sent, so an auditor can match it without the ledger holding it.
struct SignedDetails {
  std::string payer;
  std::string credential_ref;
  std::string credential_sha256;
  // Unix seconds after which the credential can no longer move money (EIP-3009 validBefore,
  // Permit2 deadline); 0 when it has no such moment. A refused credential that left the process
  // keeps its amount reserved until then: whoever holds it can still submit it.
  std::int64_t valid_before = 0;
};

// How an attempt ended (or that its end is unknown).
struct Outcome {
  AttemptState state = AttemptState::settled;  // settled, failed or unknown
  std::string settlement_ref;                  // transaction hash, Lightning payment hash, ...
  std::string evidence;  // the merchant's raw settlement evidence (e.g. X-PAYMENT-RESPONSE)
  int http_status = 0;   // the paid retry's status; 0 when there was none
  // For failed / unknown: why, as a stable code of the one taxonomy (payment_refused,
  // payment_outcome_unknown, client_closed, an upstream error, ...) and as a sentence.
  // finalize() refuses a failed or unknown outcome without a code.
  std::optional<payment::Reason> failure_code;
  std::string failure_reason;
};

struct AttemptTimes {
  std::int64_t reserved_at_ms = 0;
  std::int64_t signed_at_ms = 0;  // 0: not reached
  std::int64_t submitted_at_ms = 0;
  std::int64_t finished_at_ms = 0;  // settled, failed, unknown or released
  std::int64_t updated_at_ms = 0;
};

// One row of the attempts table.
struct Attempt {
  std::int64_t id = 0;
  AttemptState state = AttemptState::reserved;
  PaymentIntent intent;  // as stored: url and offer.resource already redacted
  std::string payer;
  std::string credential_ref;
  std::string credential_sha256;
  std::string settlement_ref;
  std::string evidence;
  int http_status = 0;
  std::optional<payment::Reason> failure_code;  // failed, unknown, released: Outcome's
  std::string failure_reason;
  AttemptTimes times;
  std::int64_t valid_before = 0;  // SignedDetails::valid_before
  // Unix seconds: a failed attempt whose credential had left the process holds its reservation
  // until this moment (its valid_before); 0 once released, and for every other attempt.
  std::int64_t held_until = 0;
};

// Whether the attempt's amount still counts against caps: its state holds money, or it is a
// refused credential that may still be submitted (held_until).
inline bool attempt_holds_money(const Attempt& a) {
  return holds_money(a.state) || a.held_until != 0;
}

// A refused credential stays reserved this long after its valid_before: the chain's clock may
// be behind ours.
inline constexpr std::int64_t kExpiryMarginSeconds = 60;

}  // namespace flow::storage
