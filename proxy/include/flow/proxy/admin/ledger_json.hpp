// The ledger's records as JSON, in one home: `402flow ledger receipts --json` / `spend --json`
// print them and the admin API (/v1/receipts, /v1/spend) serves them, so both say the same.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "flow/policy/asset_table.hpp"
#include "flow/storage/receipt.hpp"
#include "flow/storage/spend_report.hpp"

namespace flow::proxy {

using Json = nlohmann::ordered_json;

// "2026-01-01T00:00:00Z"; "-" for 0 (a step that was never reached).
std::string iso_time(std::int64_t ms);

// What the operator's asset table (flow.yaml `assets:` over the built-ins) calls an asset:
// "USDC", or empty for an asset it does not know.
std::string symbol_of(const policy::AssetTable& assets, const std::string& network,
                      const std::string& asset);

// A receipt as listed: with the asset's symbol and, when a later receipt of the same attempt
// exists (an unknown outcome later settled by the resent credential), that receipt's id.
struct ListedReceipt {
  const storage::Receipt* receipt = nullptr;
  std::string symbol;
  std::string superseded_by;
};

// Every receipt with its symbol; each but the last receipt of an attempt names the last one.
std::vector<ListedReceipt> listed_receipts(const std::vector<storage::Receipt>& receipts,
                                           const policy::AssetTable& assets);
// Every receipt field an auditor needs, flat, in one order for JSON and CSV.
std::vector<std::pair<std::string, std::string>> receipt_fields(const ListedReceipt& listed);
Json receipt_json(const ListedReceipt& listed);
Json receipts_json(const std::vector<ListedReceipt>& receipts);

// A cap's window as its counter key names it (the key's last part: day, week, month,
// rolling:<n>s), and when the window the ledger last counted ends.
struct CapWindow {
  std::string key;                        // "day", "rolling:3600s"; empty if the key is unknown
  std::optional<std::int64_t> end;        // unix seconds
  std::optional<std::int64_t> resets_at;  // calendar windows only: a rolling one never resets
};
CapWindow cap_window(const storage::CounterTotals& c);
// A cap counts payments (`payments:`) or an amount; never both.
bool counts_payments(const storage::CounterTotals& c);

Json spend_json(const storage::SpendReport& report, const policy::AssetTable& assets);

}  // namespace flow::proxy
