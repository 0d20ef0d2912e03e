// Internal: policy decisions and the observed-merchants table they feed.
#pragma once
#include <string_view>
#include <vector>

#include "flow/storage/decision.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::decision_log {

// Inserts the decision (URL redacted) and counts it against its merchant.
Result<void> record(LedgerContext& ctx, const DecisionRecord& decision);
// A settled payment to `origin`.
Result<void> count_paid(LedgerContext& ctx, std::string_view origin);
Result<std::vector<ObservedMerchant>> merchants(LedgerContext& ctx);

}  // namespace flow::storage::decision_log
