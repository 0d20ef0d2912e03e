#include "flow/proxy/paid/payment_answer.hpp"

#include "flow/payment/amount.hpp"

namespace flow::proxy {
namespace {

ProxyAnswer response(int status, std::string_view content_type, std::string body,
                     const HeaderList& headers, bool close) {
  ProxyAnswer answer;
  answer.status = status;
  answer.headers = headers;
  answer.headers.push_back({"Content-Type", std::string(content_type)});
  answer.headers.push_back({"Cache-Control", "no-store"});
  answer.body = std::move(body);
  answer.close = close;
  return answer;
}

ProxyAnswer problem(int status, payment::Reason reason, std::string_view detail,
                    const nlohmann::json& extra, const HeaderList& headers, bool close) {
  const std::string_view code = payment::reason_name(reason);
  nlohmann::json body = {{"type", "urn:402flow:" + std::string(code)},
                         {"title", std::string(default_reason(status))},
                         {"status", status},
                         {"code", std::string(code)},
                         {"detail", std::string(detail)}};
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) body[key] = value;
  }
  HeaderList all = headers;
  all.push_back({"X-402flow-Error", std::string(code)});
  ProxyAnswer answer = response(status, "application/problem+json", body.dump(), all, close);
  answer.code = reason;
  return answer;
}

}  // namespace

ProxyAnswer problem_response(payment::Reason reason, std::string_view detail,
                             const nlohmann::json& extra, const HeaderList& headers, bool close) {
  return problem_response(payment::reason_status(reason), reason, detail, extra, headers, close);
}

ProxyAnswer problem_response(int status, payment::Reason reason, std::string_view detail,
                             const nlohmann::json& extra, const HeaderList& headers, bool close) {
  return problem(status, reason, detail, extra, headers, close);
}

HeaderList error_headers(payment::Reason reason, std::string detail) {
  return {{"X-402flow-Error", std::string(payment::reason_name(reason))},
          {"X-402flow-Detail", std::move(detail)}};
}

ProxyAnswer json_response(int status, const nlohmann::json& body, const HeaderList& headers,
                          bool close) {
  return response(status, "application/json", body.dump(), headers, close);
}

nlohmann::json offer_json(const payment::Offer& offer, std::string_view symbol, unsigned decimals) {
  nlohmann::json j = {
      {"protocol", offer.protocol}, {"version", offer.protocol_version},
      {"scheme", offer.scheme},     {"network", offer.network},
      {"asset", offer.asset},       {"amount", payment::format_atomic(offer.amount)},
      {"pay_to", offer.pay_to},     {"resource", offer.resource},
      {"index", offer.index}};
  if (!symbol.empty()) j["display"] = payment::format_display(offer.amount, decimals, symbol);
  return j;
}

std::string paid_header_value(const payment::Offer& offer, std::string_view symbol,
                              unsigned decimals) {
  std::string v = payment::format_atomic(offer.amount) + "; asset=" + offer.asset +
                  "; network=" + offer.network;
  if (!symbol.empty())
    v += "; display=\"" + payment::format_display(offer.amount, decimals, symbol) + "\"";
  return v;
}

nlohmann::json decision_json(const policy::Decision& d) {
  nlohmann::json j = {{"verdict", std::string(policy::verdict_name(d.verdict))},
                      {"reason", std::string(payment::reason_name(d.reason))},
                      {"rule", d.rule}};
  if (!d.merchant.empty()) j["merchant"] = d.merchant;
  if (d.offer) j["offer"] = offer_json(*d.offer, d.symbol, d.decimals);
  nlohmann::json offers = nlohmann::json::array();
  for (std::size_t i = 0; i < d.offers.size(); ++i) {
    offers.push_back({{"verdict", std::string(policy::verdict_name(d.offers[i].verdict))},
                      {"reason", std::string(payment::reason_name(d.offers[i].reason))},
                      {"rule", d.offers[i].rule}});
  }
  j["offers"] = std::move(offers);
  return j;
}

}  // namespace flow::proxy
