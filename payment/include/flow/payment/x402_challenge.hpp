#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/amount.hpp"
#include "flow/payment/header_field.hpp"
#include "flow/payment/offer.hpp"
#include "flow/payment/reason.hpp"

namespace flow::payment {

// Why a 402 could not be read as an x402 challenge. Stable names (x402_challenge_error_name)
// go into the explanation header the agent receives with the merchant's 402.
enum class ChallengeError {
  none,
  not_x402,             // no PAYMENT-REQUIRED, no x402/h402 JSON body, no WWW-Authenticate: x402
  bad_base64,           // PAYMENT-REQUIRED (or WWW-Authenticate x402 data) is not standard base64
  bad_json,             // not JSON, or not an object
  unsupported_version,  // x402Version other than 1 or 2
  missing_field,        // a required field is missing or has the wrong JSON type
  no_offers,            // accepts is empty
  too_large,            // more than kMaxOffers offers
};
std::string_view challenge_error_name(ChallengeError error);  // "none", or the reason's name
// The reason the 402 is relayed unpaid with; nothing for none.
std::optional<Reason> reason_of(ChallengeError error);

// Why one offer (accepts[i]) cannot be paid even if policy liked it. The offer is still listed
// (policy and the agent see it) but never signed.
enum class OfferProblem {
  none,
  bad_amount,          // amount / maxAmountRequired is not a plain decimal integer string
  unknown_network,     // not CAIP-2 and not a known v1 legacy name
  unsupported_scheme,  // scheme other than "exact" (or none), "exact" on a non-EVM network,
                       // or an extra.assetTransferMethod other than eip3009 / permit2
  bad_address,         // asset or payTo is missing or not 0x + 40 hex (on eip155)
  missing_domain,      // EIP-3009 without extra.name / extra.version
  // Terms no honest exact offer has; signing them pays nothing to anyone, or burns the money:
  zero_amount,          // exact with amount "0": a settled receipt for a payment of nothing
  pay_to_zero_address,  // payTo 0x0000…0000: tokens sent there are gone
  pay_to_is_asset,      // payTo is the token contract itself: tokens sent there are stuck
  pay_to_is_permit2,    // payTo is the Permit2 contract or x402's Permit2 proxy: stuck as well
};
std::string_view offer_problem_name(OfferProblem problem);  // "none", or the reason's name
std::optional<Reason> reason_of(OfferProblem problem);      // nothing for none

inline constexpr std::size_t kMaxOffers = 32;

// One accepts[i], normalized, with the JSON exactly as the merchant sent it.
struct X402Requirement {
  Offer offer;  // protocol "x402", version, scheme, network as CAIP-2, asset and payTo
                // lower-case hex (EVM), amount, resource, expires_at = 0, index = i
  AmountError amount_error = AmountError::none;
  OfferProblem problem = OfferProblem::none;
  std::string network_as_sent;  // "base" (v1) or "eip155:8453" (v2)
  std::optional<std::uint64_t> chain_id;
  std::string domain_name;               // extra.name
  std::string domain_version;            // extra.version
  bool permit2 = false;                  // extra.assetTransferMethod == "permit2"
  std::int64_t max_timeout_seconds = 0;  // 0 when absent
  // accepts[i] as parsed: echoed verbatim in a v2 credential. nlohmann::json sorts object keys;
  // that is fine: the reference TypeScript server matches `accepted` with a deepEqual that sorts
  // keys first, and the Go and Python servers compare scheme/network/amount/asset/payTo only.
  nlohmann::json raw;
};

// Where the challenge came from.
enum class ChallengeSource { payment_required_header, json_body, www_authenticate, h402_body };

struct X402Challenge {
  int version = 0;  // 1 or 2 (h402 is read as its v1 shape)
  ChallengeSource source = ChallengeSource::payment_required_header;
  std::string error;          // the merchant's `error` text, if any (not trusted, just shown)
  nlohmann::json resource;    // v2 PaymentRequired.resource as sent (null when absent)
  nlohmann::json extensions;  // v2 PaymentRequired.extensions as sent (null when absent)
  std::vector<X402Requirement> accepts;
};

// Whether the merchant advertises x402's `payment-identifier` extension (v2
// PaymentRequired.extensions["payment-identifier"] is an object): it then answers a repeated
// payload carrying the same `id` with its first result instead of processing it again.
bool advertises_payment_identifier(const X402Challenge& challenge);

struct ChallengeParse {
  ChallengeError error = ChallengeError::none;
  std::string detail;  // for the explanation header: which field, at which offer; no secrets
  std::optional<X402Challenge> challenge;
};

// Reads a 402's x402 challenge: PAYMENT-REQUIRED first (v2), then a JSON body with
// x402Version 1 or 2 (or h402Version 1), then `WWW-Authenticate: x402 ...` (either version).
// The first source that reads cleanly wins; when none does, the error of the first source
// present is returned. WWW-Authenticate forms read (scheme name in any case, any line, among
// other challenges): `x402 <base64 JSON>`, `x402 {JSON}`, and auth-params
// `challenge=`, `data=`, `payment_required=` or `payment-required=` (quoted or not) holding
// base64 JSON; a bare `x402` or `x402 realm=...` is only a hint and is skipped.
// `request_url` fills Offer::resource when the challenge names none. Never throws; any input
// gives a value. JSON deeper than 64 levels is refused as bad_json.
ChallengeParse parse_x402_challenge(std::span<const HeaderField> headers, std::string_view body,
                                    std::string_view request_url);

}  // namespace flow::payment
