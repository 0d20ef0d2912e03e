#include "flow/proxy/paid/payment_answer.hpp"

#include <algorithm>

#include "flow/payment/amount.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/policy/budget_window.hpp"

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

namespace {

std::string display(payment::Atomic atomic, unsigned decimals, std::string_view symbol) {
  if (symbol.empty()) return payment::format_atomic(atomic) + " (atomic units)";
  return payment::format_display(atomic, decimals, symbol);
}

std::string display(const policy::UnitAmount& u) {
  return display(u.atomic, u.decimals, u.symbol);
}

nlohmann::json amount_json(payment::Atomic atomic, unsigned decimals, std::string_view symbol) {
  nlohmann::json j = {{"amount", payment::format_atomic(atomic)}};
  if (!symbol.empty()) j["display"] = payment::format_display(atomic, decimals, symbol);
  return j;
}

nlohmann::json amount_json(const policy::UnitAmount& u) {
  return amount_json(u.atomic, u.decimals, u.symbol);
}

std::string payments(std::uint64_t n) {
  return std::to_string(n) + (n == 1 ? " payment" : " payments");
}

// "at most 0.05 USDC per calendar day (UTC)", "at most 3 payments in any rolling 1h".
std::string cap_phrase(const policy::RefusalFacts& f) {
  const std::string what = f.limit         ? display(*f.limit)
                           : f.limit_count ? payments(*f.limit_count)
                                           : std::string("its limit");
  return "at most " + what + (f.window ? " " + policy::describe_window(*f.window) : "");
}

// "0.05 USDC already spent", "3 payments already made".
std::string spent_phrase(const policy::RefusalFacts& f) {
  const policy::SpendTotal spent = f.spent.value_or(policy::SpendTotal{});
  if (!f.limit) return payments(spent.count) + " already made";
  return display(spent.amount, f.limit->decimals, f.limit->symbol) + " already spent";
}

// "it resets at 2026-01-02T00:00:00Z (in 5h)", or for a rolling window when room comes back.
std::string reset_phrase(const policy::RefusalFacts& f, std::int64_t retry_after) {
  const std::string at = payment::format_utc(f.resets_at);
  const std::string in = policy::human_duration(retry_after);
  if (f.window && f.window->kind == policy::WindowKind::rolling) {
    return "room comes back as earlier payments age out of the window, all of it by " + at +
           " (in " + in + ")";
  }
  return "it resets at " + at + " (in " + in + ")";
}

nlohmann::json with_extra(nlohmann::json base, const nlohmann::json& extra) {
  for (const auto& [key, value] : extra.items()) base[key] = value;
  return base;
}

}  // namespace

ProxyAnswer budget_refusal(payment::Reason reason, std::string_view rule,
                           const policy::RefusalFacts& facts, const RefusalContext& ctx) {
  // At least a second: a window that has just reset is answered "retry now", not "never".
  const std::int64_t retry_after = std::max<std::int64_t>(facts.resets_at - ctx.now, 1);
  nlohmann::json fields = {{"offer_amount", amount_json(facts.offered)},
                           {"resets_at", payment::format_utc(facts.resets_at)},
                           {"retry_after", retry_after}};
  const policy::SpendTotal spent = facts.spent.value_or(policy::SpendTotal{});
  if (facts.limit) {
    fields["cap"] = amount_json(*facts.limit);
    fields["spent"] = amount_json(spent.amount, facts.limit->decimals, facts.limit->symbol);
    fields["spent"]["payments"] = spent.count;
  } else {
    fields["cap"] = {{"payments", facts.limit_count.value_or(0)}};
    fields["spent"] = {{"payments", spent.count}};
  }
  if (facts.window) fields["window"] = policy::window_key(*facts.window);
  const std::string detail = "this payment of " + display(facts.offered) + " would exceed " +
                             std::string(rule) + ": " + cap_phrase(facts) + ", " +
                             spent_phrase(facts) + "; " + reset_phrase(facts, retry_after) +
                             "; not paid";
  return problem_response(403, reason, detail, with_extra(std::move(fields), ctx.extra),
                          {{"Retry-After", std::to_string(retry_after)}}, false);
}

ProxyAnswer request_cap_refusal(std::string_view rule, const policy::RefusalFacts& facts,
                                const RefusalContext& ctx) {
  nlohmann::json fields = {{"offer_amount", amount_json(facts.offered)}};
  std::string detail = "the offer asks " + display(facts.offered);
  if (facts.limit) {
    fields["cap"] = amount_json(*facts.limit);
    detail += ", above the per-request cap of " + display(*facts.limit);
  }
  detail += " (" + std::string(rule) + "); not paid";
  return problem_response(403, payment::Reason::over_request_cap, detail,
                          with_extra(std::move(fields), ctx.extra), {}, false);
}

ProxyAnswer agent_max_refusal(const policy::RefusalFacts& facts, const RefusalContext& ctx) {
  nlohmann::json agent_max = {{"header", std::string(ctx.agent_max)}};
  std::string detail =
      "the agent's own limit refused this payment, not the policy: "
      "X-402flow-Max-Amount: " +
      std::string(ctx.agent_max);
  if (facts.limit) {
    agent_max.update(amount_json(*facts.limit));
    detail += ", and the offer asks " + display(facts.offered) + ", above the agent's " +
              display(*facts.limit);
  } else {
    detail += " names no amount in the offer's unit, and the offer asks " + display(facts.offered);
  }
  detail += "; not paid (raise or drop the header to pay it)";
  nlohmann::json fields = {{"agent_max_amount", std::move(agent_max)},
                           {"offer_amount", amount_json(facts.offered)}};
  return problem_response(403, payment::Reason::over_agent_max_amount, detail,
                          with_extra(std::move(fields), ctx.extra), {}, false);
}

ProxyAnswer merchant_not_allowed_refusal(std::string_view rule, const RefusalContext& ctx) {
  const std::string host(ctx.host);
  return problem_response(403, payment::Reason::merchant_not_allowed,
                          "no merchant rule matches the host " + host + ", and " +
                              std::string(rule) +
                              " is block: only merchants a rule allows are paid; not paid",
                          with_extra({{"host", host}}, ctx.extra), {}, false);
}

ProxyAnswer agent_denied_refusal(std::string_view rule, const RefusalContext& ctx) {
  const std::string agent(ctx.agent);
  return problem_response(
      403, payment::Reason::agent_denied,
      "the agent " + agent + " may not pay (" + std::string(rule) + ": deny); not paid",
      with_extra({{"agent", agent}}, ctx.extra), {}, false);
}

ProxyAnswer policy_refusal(const policy::Decision& d, const RefusalContext& ctx) {
  const std::string rule = d.rule.empty() ? std::string("-") : d.rule;
  switch (d.reason) {
    case payment::Reason::merchant_not_allowed:
      return merchant_not_allowed_refusal(rule, ctx);
    case payment::Reason::agent_denied:
      return agent_denied_refusal(rule, ctx);
    case payment::Reason::over_agent_max_amount:
      if (d.exceeded) return agent_max_refusal(*d.exceeded, ctx);
      break;
    case payment::Reason::over_request_cap:
      if (d.exceeded) return request_cap_refusal(rule, *d.exceeded, ctx);
      break;
    case payment::Reason::over_org_cap:
    case payment::Reason::over_agent_cap:
    case payment::Reason::over_merchant_cap:
    case payment::Reason::over_agent_merchant_cap:
      if (d.exceeded) return budget_refusal(d.reason, rule, *d.exceeded, ctx);
      break;
    default:
      break;
  }
  nlohmann::json fields = {{"host", std::string(ctx.host)}};
  return problem_response(403, d.reason,
                          "the payment policy refused to pay this merchant: " +
                              std::string(payment::reason_name(d.reason)) + " (rule " + rule + ")",
                          with_extra(std::move(fields), ctx.extra), {}, false);
}

ProxyAnswer reservation_refusal(const storage::CapRefusal& r, const policy::Decision& d,
                                const RefusalContext& ctx) {
  // The ledger counts in the offer's unit: a cap that applies to the offer shares its symbol.
  policy::RefusalFacts f;
  const payment::Atomic offered = d.offer ? d.offer->amount : 0;
  f.offered = {d.symbol, "", d.decimals, offered};
  if (r.limit == storage::CapLimit::amount && r.max_amount) {
    f.limit = policy::UnitAmount{d.symbol, "", d.decimals, *r.max_amount};
  } else {
    f.limit_count = r.max_count;
  }
  f.spent = policy::SpendTotal{r.held_amount, r.held_count};
  f.window = r.window;
  f.resets_at = r.resets_at;
  RefusalContext ledger_ctx = ctx;
  ledger_ctx.extra["reason"] = std::string(payment::reason_name(r.reason));
  ledger_ctx.extra["rule"] = r.rule;
  return budget_refusal(r.reason, r.rule, f, ledger_ctx);
}

}  // namespace flow::proxy
