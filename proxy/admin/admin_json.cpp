#include "admin_json.hpp"

#include <time.h>

#include <algorithm>
#include <charconv>

#include "flow/payment/reason.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/policy/verdict.hpp"

namespace flow::proxy::admin_json {
namespace {

Json text_or_null(const std::string& text) {
  return text.empty() ? Json(nullptr) : Json(text);
}

std::optional<std::int64_t> digits_value(std::string_view s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

void put_time(Json& object, const std::string& name, std::int64_t ms) {
  object[name] = ms == 0 ? Json(nullptr) : Json(iso_time(ms));
  object[name + "_ms"] = ms == 0 ? Json(nullptr) : Json(ms);
}

Json offer_json(const payment::Offer& o, unsigned decimals, const policy::AssetTable& assets) {
  const std::string symbol = symbol_of(assets, o.network, o.asset);
  return {
      {"protocol", o.protocol},
      {"scheme", o.scheme},
      {"network", o.network},
      {"asset", o.asset},
      {"amount", payment::format_atomic(o.amount)},
      {"decimals", decimals},
      {"symbol", text_or_null(symbol)},
      {"display",
       symbol.empty() ? Json(nullptr) : Json(payment::format_display(o.amount, decimals, symbol))},
      {"pay_to", o.pay_to},
      {"resource", o.resource},
  };
}

std::string approval_state_now(const storage::Approval& a, std::int64_t now_ms) {
  if (a.state == storage::ApprovalState::pending && a.request.expires_at_ms != 0 &&
      now_ms >= a.request.expires_at_ms) {
    return "expired";
  }
  return std::string(storage::approval_state_name(a.state));
}

Json approval_json(const storage::Approval& a, std::size_t held, std::int64_t now_ms,
                   const policy::AssetTable& assets) {
  const storage::ApprovalRequest& r = a.request;
  Json out = {
      {"id", a.id},
      {"state", approval_state_now(a, now_ms)},
      {"agent", r.agent},
      {"merchant", r.merchant_origin},
      {"method", r.method},
      {"url", r.url},
      {"rule", r.rule},
      {"decision_id", r.decision_id},
      {"offer", offer_json(r.offer, r.decimals, assets)},
  };
  put_time(out, "created_at", a.created_at_ms);
  put_time(out, "expires_at", r.expires_at_ms);
  put_time(out, "resolved_at", a.resolved_at_ms);
  out["resolved_by"] = a.resolved_by;
  out["note"] = a.note;
  out["attempt_id"] = a.attempt_id != 0 ? Json(a.attempt_id) : Json(nullptr);
  put_time(out, "used_at", a.used_at_ms);
  out["held"] = held;
  return out;
}

Json attempt_json(const storage::Attempt& a, const policy::AssetTable& assets) {
  const storage::PaymentIntent& in = a.intent;
  Json out = {
      {"id", a.id},
      {"state", storage::attempt_state_name(a.state)},
      {"agent", in.agent},
      {"idempotency_key", in.idempotency_key},
      {"merchant", in.merchant_origin},
      {"method", in.method},
      {"url", in.url},
      {"decision_id", in.decision_id},
      {"rule", in.rule},
      {"approval_id", text_or_null(in.approval_id)},
      {"offer", offer_json(in.offer, in.decimals, assets)},
      {"payer", a.payer},
      {"settlement_ref", a.settlement_ref},
      {"http_status", a.http_status},
      {"failure_code",
       a.failure_code ? Json(payment::reason_name(*a.failure_code)) : Json(nullptr)},
      {"failure_reason", a.failure_reason},
  };
  put_time(out, "reserved_at", a.times.reserved_at_ms);
  put_time(out, "signed_at", a.times.signed_at_ms);
  put_time(out, "submitted_at", a.times.submitted_at_ms);
  put_time(out, "finished_at", a.times.finished_at_ms);
  return out;
}

Json decision_json(const storage::DecisionRecord& d, const policy::AssetTable& assets) {
  Json out = {
      {"id", d.id},
      {"agent", d.agent},
      {"merchant", d.merchant_origin},
      {"method", d.method},
      {"url", d.url},
      {"outcome", policy::verdict_name(d.outcome)},
      {"reason", payment::reason_name(d.reason)},
      {"rule", d.rule},
      {"offers_seen", d.offers_seen},
      {"protocols_offered", d.protocols_offered},
      {"offer", d.offer ? offer_json(*d.offer, d.decimals, assets) : Json(nullptr)},
      {"approval_id", text_or_null(d.approval_id)},
  };
  put_time(out, "at", d.at_ms);
  return out;
}

Json merchant_json(const storage::ObservedMerchant& m, const policy::AssetTable& assets) {
  Json out = {
      {"origin", m.origin},       {"challenges", m.challenges}, {"allowed", m.allowed},
      {"denied", m.denied},       {"reviewed", m.reviewed},     {"paid", m.paid},
      {"protocols", m.protocols},
  };
  out["last_offer"] = nullptr;
  if (m.last_offer) {
    const storage::ObservedOffer& o = *m.last_offer;
    const std::string symbol = symbol_of(assets, o.network, o.asset);
    out["last_offer"] = {
        {"network", o.network},
        {"asset", o.asset},
        {"amount", payment::format_atomic(o.amount)},
        {"decimals", o.decimals},
        {"symbol", text_or_null(symbol)},
        {"display", symbol.empty() ? Json(nullptr)
                                   : Json(payment::format_display(o.amount, o.decimals, symbol))},
    };
  }
  put_time(out, "first_seen", m.first_seen_ms);
  put_time(out, "last_seen", m.last_seen_ms);
  return out;
}

Json audit_json(const storage::AuditRecord& r) {
  Json detail = Json::parse(r.entry.detail, nullptr, false);
  if (detail.is_discarded()) detail = r.entry.detail;  // kept as text: the chain says if edited
  Json out = {
      {"seq", r.seq},
      {"id", r.id},
      {"actor", r.entry.actor},
      {"action", r.entry.action},
      {"subject", r.entry.subject},
      {"detail", std::move(detail)},
  };
  put_time(out, "at", r.at_ms);
  out["prev_hash"] = r.prev_hash;
  out["hash"] = r.hash;
  return out;
}

Json chain_json(const storage::ChainReport& r) {
  return {
      {"ok", r.ok},
      {"rows_checked", r.rows_checked},
      {"first_bad_seq", r.ok ? Json(nullptr) : Json(r.first_bad_seq)},
      {"problem", r.ok ? Json(nullptr) : Json(storage::chain_problem_name(r.problem))},
      {"detail", r.detail},
      {"head_seq", r.head_seq},
      {"head_hash", r.head_hash},
  };
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string key = percent_decoded(pair.substr(0, eq));
    if (key != name) continue;
    return eq == std::string_view::npos ? std::string() : percent_decoded(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<Page> read_page(std::string_view query, std::string& error) {
  Page page;
  if (auto limit = query_param(query, "limit")) {
    const auto n = digits_value(*limit);
    if (!n || *n < 1 || *n > 1000) {
      error = "limit must be a number from 1 to 1000";
      return std::nullopt;
    }
    page.limit = static_cast<std::size_t>(*n);
  }
  if (auto after = query_param(query, "after")) page.after = *after;
  return page;
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  return digits_value(text);
}

std::optional<std::int64_t> parse_time_ms(std::string_view text) {
  if (auto ms = digits_value(text)) return *ms;
  return payment::parse_utc_ms(text);
}

int ledger_error_status(const storage::LedgerError& error) {
  switch (error.code) {
    case storage::LedgerErrorCode::not_found:
      return 404;
    case storage::LedgerErrorCode::illegal_transition:
      return 409;
    case storage::LedgerErrorCode::invalid_argument:
      return 400;
    default:
      return 503;
  }
}

}  // namespace flow::proxy::admin_json
