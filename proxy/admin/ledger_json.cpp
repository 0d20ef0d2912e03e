#include "flow/proxy/admin/ledger_json.hpp"

#include "flow/payment/unix_clock.hpp"

#include <time.h>

#include <charconv>
#include <map>
#include <string_view>

#include "flow/payment/amount.hpp"
#include "flow/policy/budget_window.hpp"

namespace flow::proxy {
namespace {

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Numbers stay numbers in JSON, except amounts: 128-bit values do not fit a JSON number
// that every reader parses exactly, so amounts are strings.
bool numeric_field(const std::string& name) {
  return name == "seq" || name == "recorded_at_ms" || name == "attempt_id" ||
         name == "protocol_version" || name == "decimals" || name == "http_status" ||
         name == "encoding" || name.ends_with("_at_ms");
}

Json optional_json(const std::optional<std::int64_t>& v) {
  return v ? Json(*v) : Json(nullptr);
}

// "0.01 USDC" for an asset the table knows, null otherwise.
Json display_json(payment::Atomic amount, unsigned decimals, const std::string& symbol) {
  if (symbol.empty()) return nullptr;
  return payment::format_display(amount, decimals, symbol);
}

Json cap_json(const storage::CounterTotals& c, const policy::AssetTable& assets) {
  const CapWindow w = cap_window(c);
  const bool count = counts_payments(c);
  const std::string symbol = count ? std::string() : symbol_of(assets, c.network, c.asset);
  return {
      {"counter_key", c.counter_key},
      {"rule", c.rule},
      {"reason", c.reason},
      {"network", c.network},
      {"asset", c.asset},
      {"decimals", c.decimals},
      {"window_start", c.window_start},
      {"held_amount", payment::format_atomic(c.held_amount)},
      {"held_count", c.held_count},
      {"max_amount", c.max_amount ? Json(payment::format_atomic(*c.max_amount)) : Json(nullptr)},
      {"max_count", c.max_count ? Json(*c.max_count) : Json(nullptr)},
      {"kind", count ? "payments" : "amount"},
      {"window", w.key.empty() ? Json(nullptr) : Json(w.key)},
      {"window_end", optional_json(w.end)},
      {"resets_at", optional_json(w.resets_at)},
      {"symbol", symbol.empty() ? Json(nullptr) : Json(symbol)},
      {"held_display", count ? nullptr : display_json(c.held_amount, c.decimals, symbol)},
      {"max_display",
       count || !c.max_amount ? nullptr : display_json(*c.max_amount, c.decimals, symbol)},
  };
}

}  // namespace

// "2026-01-01T00:00:00Z"; "-" for 0 (a step that was never reached).
std::string iso_time(std::int64_t ms) {
  return ms == 0 ? "-" : payment::format_utc(ms / 1000);
}

// What the operator's asset table (flow.yaml `assets:` over the built-ins) calls an asset:
// "USDC", or empty for an asset it does not know.
std::string symbol_of(const policy::AssetTable& assets, const std::string& network,
                      const std::string& asset) {
  const policy::AssetEntry* entry = assets.find(network, asset);
  return entry ? entry->symbol : std::string();
}

// Every receipt field an auditor needs, flat, in one order for JSON and CSV.
std::vector<std::pair<std::string, std::string>> receipt_fields(const ListedReceipt& listed) {
  const storage::Receipt& r = *listed.receipt;
  const auto& a = r.attempt;
  const auto& in = a.intent;
  const auto& o = in.offer;
  return {
      {"seq", std::to_string(r.seq)},
      {"receipt_id", r.receipt_id},
      {"recorded_at", iso_time(r.recorded_at_ms)},
      {"recorded_at_ms", std::to_string(r.recorded_at_ms)},
      {"attempt_id", std::to_string(a.id)},
      {"state", std::string(storage::attempt_state_name(a.state))},
      {"agent", in.agent},
      {"idempotency_key", in.idempotency_key},
      {"merchant_origin", in.merchant_origin},
      {"method", in.method},
      {"url", in.url},
      {"protocol", o.protocol},
      {"protocol_version", std::to_string(o.protocol_version)},
      {"scheme", o.scheme},
      {"network", o.network},
      {"asset", o.asset},
      {"amount_atomic", payment::format_atomic(o.amount)},
      {"decimals", std::to_string(in.decimals)},
      {"amount", payment::format_decimal(o.amount, in.decimals)},
      {"symbol", listed.symbol},
      {"display", payment::format_display(o.amount, in.decimals, listed.symbol)},
      {"pay_to", o.pay_to},
      {"resource", o.resource},
      {"payer", a.payer},
      {"decision_id", in.decision_id},
      {"rule", in.rule},
      {"approval_id", in.approval_id},
      {"credential_ref", a.credential_ref},
      {"credential_sha256", a.credential_sha256},
      {"settlement_ref", a.settlement_ref},
      {"evidence", a.evidence},
      {"http_status", std::to_string(a.http_status)},
      {"failure_code",
       a.failure_code ? std::string(payment::reason_name(*a.failure_code)) : std::string()},
      {"failure_reason", a.failure_reason},
      {"reserved_at_ms", std::to_string(a.times.reserved_at_ms)},
      {"signed_at_ms", std::to_string(a.times.signed_at_ms)},
      {"submitted_at_ms", std::to_string(a.times.submitted_at_ms)},
      {"finished_at_ms", std::to_string(a.times.finished_at_ms)},
      {"prev_hash", r.prev_hash},
      {"hash", r.hash},
      {"encoding", std::to_string(r.encoding)},
      {"superseded_by", listed.superseded_by},
  };
}

// Every receipt with its symbol; each but the last receipt of an attempt names the last one.
std::vector<ListedReceipt> listed_receipts(const std::vector<storage::Receipt>& receipts,
                                           const policy::AssetTable& assets) {
  std::map<std::int64_t, const storage::Receipt*>
      latest;  // attempt id -> its last receipt (by seq)
  for (const auto& r : receipts) latest[r.attempt.id] = &r;
  std::vector<ListedReceipt> out;
  out.reserve(receipts.size());
  for (const auto& r : receipts) {
    const auto& offer = r.attempt.intent.offer;
    const storage::Receipt* last = latest[r.attempt.id];
    out.push_back({&r, symbol_of(assets, offer.network, offer.asset),
                   last != &r ? last->receipt_id : std::string()});
  }
  return out;
}

Json receipt_json(const ListedReceipt& listed) {
  Json row = Json::object();
  for (const auto& [name, value] : receipt_fields(listed)) {
    if (name == "superseded_by" && value.empty()) {
      row[name] = nullptr;
    } else if (numeric_field(name)) {
      row[name] = parse_int(value).value_or(0);
    } else {
      row[name] = value;
    }
  }
  return row;
}

Json receipts_json(const std::vector<ListedReceipt>& receipts) {
  Json out = Json::array();
  for (const auto& r : receipts) out.push_back(receipt_json(r));
  return out;
}

CapWindow cap_window(const storage::CounterTotals& c) {
  CapWindow w;
  const auto bar = c.counter_key.rfind('|');
  if (bar == std::string::npos) return w;
  const auto window = policy::parse_window_key(std::string_view(c.counter_key).substr(bar + 1));
  if (!window) return w;
  w.key = policy::window_key(*window);
  w.end = policy::window_end(*window, c.window_start);
  if (window->kind != policy::WindowKind::rolling) w.resets_at = w.end;
  return w;
}

// A cap counts payments (`payments:`) or an amount; never both.
bool counts_payments(const storage::CounterTotals& c) {
  return c.max_count.has_value() && !c.max_amount.has_value();
}

Json spend_json(const storage::SpendReport& report, const policy::AssetTable& assets) {
  Json out;
  out["caps"] = Json::array();
  for (const auto& c : report.counters) out["caps"].push_back(cap_json(c, assets));
  for (const auto& [name, rows] :
       {std::pair{"by_agent", &report.by_agent}, std::pair{"by_merchant", &report.by_merchant}}) {
    out[name] = Json::array();
    for (const auto& s : *rows) {
      const std::string symbol = symbol_of(assets, s.network, s.asset);
      out[name].push_back({
          {"subject", s.subject},
          {"network", s.network},
          {"asset", s.asset},
          {"decimals", s.decimals},
          {"settled", payment::format_atomic(s.settled)},
          {"in_flight", payment::format_atomic(s.in_flight)},
          {"unknown", payment::format_atomic(s.unknown)},
          {"payments", s.payments},
          {"symbol", symbol.empty() ? Json(nullptr) : Json(symbol)},
          {"settled_display", display_json(s.settled, s.decimals, symbol)},
          {"in_flight_display", display_json(s.in_flight, s.decimals, symbol)},
          {"unknown_display", display_json(s.unknown, s.decimals, symbol)},
      });
    }
  }
  return out;
}

}  // namespace flow::proxy
