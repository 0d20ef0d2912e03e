// Internal: the totals behind `402flow spend`.
#pragma once
#include "flow/storage/result.hpp"
#include "flow/storage/spend_report.hpp"
#include "ledger_context.hpp"

namespace flow::storage::spend_query {

Result<SpendReport> build(LedgerContext& ctx, bool with_totals);

}  // namespace flow::storage::spend_query
