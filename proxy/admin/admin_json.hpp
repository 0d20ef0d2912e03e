// Internal to the admin API: the /v1/ objects as JSON (docs/admin.md "Objects"), and reading
// what a request asks for (query parameters, paging, JSON bodies).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flow/payment/amount.hpp"
#include "flow/policy/asset_table.hpp"
#include "flow/proxy/admin/ledger_json.hpp"
#include "flow/storage/approval.hpp"
#include "flow/storage/audit.hpp"
#include "flow/storage/decision.hpp"
#include "flow/storage/ledger_writer.hpp"
#include "flow/storage/payment_attempt.hpp"

namespace flow::proxy::admin_json {

// `name`: the ISO 8601 time or null (for 0), and `name`_ms: the milliseconds or null.
void put_time(Json& object, const std::string& name, std::int64_t ms);
// An offer as the approval object shows it: amount in atomic units with decimals, symbol and
// display beside it.
Json offer_json(const payment::Offer& offer, unsigned decimals, const policy::AssetTable& assets);
// An approval; its state reads `expired` once past expires_at even before the sweep wrote it.
Json approval_json(const storage::Approval& approval, std::size_t held, std::int64_t now_ms,
                   const policy::AssetTable& assets);
std::string approval_state_now(const storage::Approval& approval, std::int64_t now_ms);
Json attempt_json(const storage::Attempt& attempt, const policy::AssetTable& assets);
Json decision_json(const storage::DecisionRecord& decision, const policy::AssetTable& assets);
// With the last offer it made (what it asks), its amount named by the asset table's symbol.
Json merchant_json(const storage::ObservedMerchant& merchant, const policy::AssetTable& assets);
Json audit_json(const storage::AuditRecord& record);
Json chain_json(const storage::ChainReport& report);

// The value of `name` in a query string, percent-decoded ('+' is a space); nothing when absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// `limit` (default 100, at most 1000) and `after` of a list request.
struct Page {
  std::size_t limit = 100;
  std::string after;
};
// Nothing, and `error` says why, when limit is not a number from 1 to 1000.
std::optional<Page> read_page(std::string_view query, std::string& error);

// {"items": [...], "next": cursor|null} over items sorted as listed: those after the one whose
// key is page.after (all when after is empty), at most page.limit of them.
template <class T, class Key, class ToJson>
Json paged(const std::vector<T>& items, const Page& page, Key key, ToJson to_json) {
  std::size_t start = 0;
  if (!page.after.empty()) {
    start = items.size();
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (key(items[i]) == page.after) {
        start = i + 1;
        break;
      }
    }
  }
  Json out = Json::object();
  out["items"] = Json::array();
  std::size_t i = start;
  for (; i < items.size() && i - start < page.limit; ++i) out["items"].push_back(to_json(items[i]));
  out["next"] = i < items.size() && i > start ? Json(key(items[i - 1])) : Json(nullptr);
  return out;
}

// A whole number of digits only ("42"); nothing for anything else.
std::optional<std::int64_t> parse_integer(std::string_view text);

// A time parameter (since, until): unix milliseconds, or an ISO 8601 UTC date or time
// ("2026-01-31", "2026-01-31T12:00:00Z").
std::optional<std::int64_t> parse_time_ms(std::string_view text);

// The status for a ledger error: 404 not_found, 409 illegal_transition, 400 invalid_argument,
// 503 otherwise (the ledger could not do its part).
int ledger_error_status(const storage::LedgerError& error);

}  // namespace flow::proxy::admin_json
