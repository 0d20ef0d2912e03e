#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flow/payment/offer.hpp"
#include "flow/policy/policy_eval.hpp"
#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/http/proxy_answer.hpp"

namespace flow::proxy {

// The answers the paid path writes itself (rather than relaying the merchant's).

// An RFC 9457 problem: {"type":"urn:402flow:<code>", "title", "status", "detail", "code",
// ...extra}, with Content-Type application/problem+json, Cache-Control: no-store,
// X-402flow-Error: <code>, and `headers` added. `close`: the connection ends after it.
ProxyAnswer problem_response(int status, std::string_view code, std::string_view detail,
                             const nlohmann::json& extra, const HeaderList& headers, bool close);

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
