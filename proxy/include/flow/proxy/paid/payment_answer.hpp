#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flow/payment/offer.hpp"
#include "flow/payment/reason.hpp"
#include "flow/policy/policy_eval.hpp"
#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/http/proxy_answer.hpp"

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

}  // namespace flow::proxy
