// Internal: reading the decisions table back (the admin API's /v1/decisions).
#pragma once
#include <vector>

#include "flow/storage/decision.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::decision_reads {

// Newest first (ids sort by creation), at most filter.limit rows.
Result<std::vector<DecisionRecord>> list(LedgerContext& ctx, const DecisionFilter& filter);

}  // namespace flow::storage::decision_reads
