#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flow/payment/offer.hpp"
#include "flow/payment/reason.hpp"
#include "flow/policy/policy_eval.hpp"
#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/http/proxy_answer.hpp"
#include "flow/storage/reserve_outcome.hpp"

namespace flow::proxy {

// The answers the paid path writes itself (rather than relaying the merchant's).

// An RFC 9457 problem: {"type":"urn:402flow:<code>", "title", "status", "detail", "code",
// ...extra}, with Content-Type application/problem+json, Cache-Control: no-store,
// X-402flow-Error: <code>, and `headers` added; <code> is reason_name(reason) and the answer's
// status is reason_status(reason). `close`: the connection ends after it.
ProxyAnswer problem_response(payment::Reason reason, std::string_view detail,
                             const nlohmann::json& extra, const HeaderList& headers, bool close);

// The same with a status of its own, for a reason whose status comes from elsewhere
// (payment_outcome_unknown answers with the upstream error's 502 or 504).
ProxyAnswer problem_response(int status, payment::Reason reason, std::string_view detail,
                             const nlohmann::json& extra, const HeaderList& headers, bool close);

// X-402flow-Error: <reason's name> and X-402flow-Detail: <detail>, which explain a merchant's
// answer relayed as it is (a 402 not paid, a paid answer that failed or whose outcome is unknown).
HeaderList error_headers(payment::Reason reason, std::string detail);

// An answer with a JSON body (prepare mode's 402); no code: the caller names it.
ProxyAnswer json_response(int status, const nlohmann::json& body, const HeaderList& headers,
                          bool close);

// {"protocol","scheme","network","asset","amount" (atomic, decimal string),"display"
//  ("0.01 USDC" when the unit is known),"pay_to","resource","index"}
nlohmann::json offer_json(const payment::Offer& offer, std::string_view symbol, unsigned decimals);

// X-402flow-Paid: `<atomic amount>; asset=<asset>; network=<network>; display="0.01 USDC"`.
std::string paid_header_value(const payment::Offer& offer, std::string_view symbol,
                              unsigned decimals);

// The policy decision as the agent sees it: verdict, reason, rule, merchant, per-offer verdicts.
nlohmann::json decision_json(const policy::Decision& decision);

// The refusals, one answer per kind: each says what refused and what was exceeded, in its
// `detail` for people and as fields for programs. Amounts are {"amount": atomic decimal string,
// "display": "0.05 USDC"}; times are RFC 3339 (UTC).
struct RefusalContext {
  nlohmann::json extra;        // what every refusal names: decision_id, rule, reason, offer
  std::string_view agent;      // the agent that asked
  std::string_view host;       // the merchant's host as the proxy saw it
  std::string_view agent_max;  // X-402flow-Max-Amount as the agent sent it; empty: none
  std::int64_t now = 0;        // unix seconds
};

// A policy `deny`: picks the answer for the decision's reason (below, or a plain refusal naming
// the reason and the rule).
ProxyAnswer policy_refusal(const policy::Decision& decision, const RefusalContext& ctx);

// A cumulative cap is full (over_org_cap, over_agent_cap, over_merchant_cap,
// over_agent_merchant_cap): 403 with `cap`, `spent`, `offer_amount`, `window` (its key: "day",
// "rolling:3600s"), `resets_at`, `retry_after` (seconds), and Retry-After: the same seconds.
ProxyAnswer budget_refusal(payment::Reason reason, std::string_view rule,
                           const policy::RefusalFacts& facts, const RefusalContext& ctx);

// over_request_cap: 403 with `cap` (the per-request cap) and `offer_amount`.
ProxyAnswer request_cap_refusal(std::string_view rule, const policy::RefusalFacts& facts,
                                const RefusalContext& ctx);

// over_agent_max_amount: 403 saying the agent's own X-402flow-Max-Amount refused, not the
// policy, with `agent_max_amount` (the header as sent, and the amount in the offer's unit when it
// names one) and `offer_amount`.
ProxyAnswer agent_max_refusal(const policy::RefusalFacts& facts, const RefusalContext& ctx);

// merchant_not_allowed (no rule matches and posture is block): 403 naming the `host` it saw.
ProxyAnswer merchant_not_allowed_refusal(std::string_view rule, const RefusalContext& ctx);

// agent_denied (the agent's rule says `action: deny`): 403 naming the `agent`.
ProxyAnswer agent_denied_refusal(std::string_view rule, const RefusalContext& ctx);

// The ledger refused the reservation (a cap filled up since policy looked): the budget refusal
// above, from the ledger's own facts and the decision's offer.
ProxyAnswer reservation_refusal(const storage::CapRefusal& refusal,
                                const policy::Decision& decision, const RefusalContext& ctx);

}  // namespace flow::proxy
