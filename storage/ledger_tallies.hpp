// Internal: the queries behind Ledger::tallies().
#pragma once
#include <cstddef>

#include "flow/storage/ledger_tallies.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::ledger_tallies {

Result<LedgerTallies> count(LedgerContext& ctx, std::size_t merchant_limit);

}  // namespace flow::storage::ledger_tallies
