#pragma once
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

// Why 402flow refused, held, relayed unpaid or failed something: one taxonomy for every module.
// The same stable name appears in problem+json `code` (and `type`, urn:402flow:<name>), the
// X-402flow-Error header, the access log's `reason`, the decisions table and the metrics. It lives
// in payment/, the lowest module, so policy/, storage/ and proxy/ all speak it. Names are a
// contract with agents, operators' dashboards and docs: never rename one, only append.
namespace flow::payment {

enum class Reason {
  // The policy's codes come first, in their original order (their numbers are relied on).
  allowed,
  unknown_agent,
  merchant_denied,       // a merchant rule says deny
  merchant_not_allowed,  // organization posture is block and no rule allows the merchant
  network_not_allowed,
  asset_not_allowed,
  unknown_asset,  // no (network, asset) entry in the assets table: decimals unknown
  payto_not_allowed,
  unparseable_amount,
  offer_expired,
  no_acceptable_offer,    // several offers, none allowed
  over_request_cap,       // a per-request cap at any scope
  over_agent_max_amount,  // the agent's own X-402flow-Max-Amount
  over_org_cap,           // a cumulative cap (amount or count) at organization scope
  over_agent_cap,
  over_merchant_cap,
  over_agent_merchant_cap,
  review_required,
  approval_expired,
  approval_denied,
  ambiguous_path,  // the request path could be read as another path (dot segments, ...)

  // What the agent sent (X-402flow-* controls, Idempotency-Key, prepared offers).
  invalid_control_header,
  bad_max_amount,
  invalid_idempotency_key,
  prepared_offer_unknown,
  prepared_offer_changed,
  already_paid,
  payment_in_progress,
  idempotency_conflict,
  idempotency_key_used,

  // The merchant's 402, relayed unpaid with the reason.
  request_not_replayable,  // the request body exceeds proxy.replay_limit
  challenge_too_large,     // the 402 body exceeds proxy.challenge_max_bytes
  no_payable_offer,        // no offer this proxy can sign (per-offer reasons below in the detail)
  no_rail,                 // no payment rail is configured
  not_x402,                // no PAYMENT-REQUIRED, x402 JSON body or WWW-Authenticate: x402
  bad_base64,
  bad_json,
  unsupported_version,
  missing_field,
  no_offers,
  too_large,  // more than payment::kMaxOffers offers
  // Per-offer reasons (named in no_payable_offer's detail, never an answer of their own).
  bad_amount,
  unknown_network,
  unsupported_scheme,
  bad_address,
  missing_domain,
  zero_amount,
  pay_to_zero_address,
  pay_to_is_asset,
  pay_to_is_permit2,
  no_wallet_for_network,

  // What happened to a payment once policy allowed it.
  payment_rail_failed,         // the rail could not make the credential; nothing was sent
  payment_refused,             // the merchant refused the credential: nothing moved (failed)
  payment_outcome_unknown,     // the credential left; whether it settled is not known
  not_supported,               // a rail asked for something it does not do
  credential_not_rebuildable,  // an earlier attempt's credential cannot be rebuilt

  // The ledger.
  ledger_unavailable,  // it could not record, or is not taking work: nothing was paid

  // The proxy's own HTTP handling and connections (flow::proxy::error_answer; ProxyStats counts
  // them).
  bad_request,
  header_too_large,
  request_timeout,
  connect_port_denied,
  loop_detected,
  not_implemented,
  upstream_unreachable,
  upstream_timeout,
  upstream_protocol,  // the origin's bytes were not valid HTTP/1.x
  too_many_connections,
  client_closed,    // the client went away before the exchange ended
  upstream_closed,  // the origin went away after the response head was sent on
  shutting_down,
  proxy_auth_required,  // shared mode: no valid Proxy-Authorization
  // Appended after the first release (names are only ever appended).
  payment_interrupted,  // 402flow stopped while a payment was in flight (found at start-up)
  upstream_tls_failed,  // the origin's TLS handshake or certificate check failed (never downgraded)
  client_tls_failed,    // an intercepted client's TLS handshake failed (it may not trust the CA)
  agent_denied,         // the agent's rule says `action: deny`: it may not pay at all
  approval_used,        // X-402flow-Approval names an approval a payment already used
  approval_mismatch,    // X-402flow-Approval names no approval, or one for another request
  reconciled_failed,    // an operator reconciled an unknown payment as failed (nothing moved)
};

// How many reasons there are: the last one's number + 1 (a new last one updates it; reason.cpp
// checks it against the table). Sizes arrays indexed by Reason.
inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(Reason::reconciled_failed) + 1;

// Who or what a reason is about (for docs, metrics and reading a log at a glance).
enum class ReasonCategory {
  policy,           // the operator's policy decided (including review)
  budget,           // a cap was full (per request or cumulative)
  agent_input,      // what the agent sent cannot be acted on as sent
  merchant,         // the merchant's 402 (or one of its offers) cannot be paid
  payment_outcome,  // what became of a payment that policy allowed
  ledger,           // the ledger could not do its part
  transport,        // the proxy's own HTTP and connections
};

struct ReasonInfo {
  Reason reason;
  std::string_view name;  // the stable wire name
  int status;             // the HTTP status of the proxy's answer; 0 when the status comes from
                          // elsewhere (the merchant's answer, an upstream error) or it is never
                          // an answer of its own
  ReasonCategory category;
};

// Every reason, in enum order (reasons()[i].reason == Reason(i)).
std::span<const ReasonInfo> reasons();

const ReasonInfo& reason_info(Reason reason);
std::string_view reason_name(Reason reason);
std::optional<Reason> reason_from_name(std::string_view name);  // exact, case-sensitive
int reason_status(Reason reason);
ReasonCategory reason_category(Reason reason);
std::string_view reason_category_name(ReasonCategory category);

}  // namespace flow::payment
