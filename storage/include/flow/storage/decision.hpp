#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "flow/payment/offer.hpp"
#include "flow/policy/reason_code.hpp"
#include "flow/policy/verdict.hpp"
#include "flow/storage/request_subject.hpp"

namespace flow::storage {

// The policy's verdict, stored by name ("allow", "deny", "review").
using DecisionOutcome = policy::Verdict;

// One policy decision on a 402 challenge, including denials. Recording it also updates the
// observed-merchants table. Decisions are not money: the writer batches them.
struct DecisionRecord : RequestSubject {
  std::string id;          // new_record_id("dec_"): chosen by the caller so nothing waits for it
  std::int64_t at_ms = 0;  // 0: the ledger's clock
  DecisionOutcome outcome = DecisionOutcome::deny;
  payment::Reason reason = payment::Reason::allowed;
  std::string rule;
  int offers_seen = 0;
  std::string protocols_offered;        // "x402,l402": every protocol in the challenge
  std::optional<payment::Offer> offer;  // the offer decided on, when there was one
  unsigned decimals = 0;
  std::string approval_id;  // review: the approval opened
};

// Which decisions to list, newest first. `before_id` pages: only ids that sort before it.
struct DecisionFilter {
  std::optional<std::string> agent;
  std::optional<std::string> merchant;  // as ReceiptFilter::merchant
  std::optional<DecisionOutcome> outcome;
  std::string before_id;
  std::size_t limit = 100;
};

// A merchant seen answering 402, with what happened to its challenges.
// What a merchant last asked, in the offer policy decided on.
struct ObservedOffer {
  std::string network;
  std::string asset;
  payment::Atomic amount = 0;
  unsigned decimals = 0;
};

struct ObservedMerchant {
  std::string origin;
  std::int64_t first_seen_ms = 0;
  std::int64_t last_seen_ms = 0;
  std::uint64_t challenges = 0;
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t reviewed = 0;
  std::uint64_t paid = 0;                   // attempts settled
  std::string protocols;                    // protocols offered in its latest challenge
  std::optional<ObservedOffer> last_offer;  // none until a challenge had an offer to decide on
};

// "<prefix><32 hex digits>": 12 of the clock in milliseconds (so ids sort by creation and the
// tables keyed by them grow at one end), then 20 from OpenSSL's CSPRNG.
std::string new_record_id(std::string_view prefix);

}  // namespace flow::storage
