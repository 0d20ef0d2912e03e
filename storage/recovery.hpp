// Internal: start-up recovery of attempts a stopped process left in flight.
#pragma once
#include "flow/storage/recovery_report.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage {

// Inside the caller's write transaction; see RecoveryReport for the rules.
Result<RecoveryReport> recover_in_flight(LedgerContext& ctx);

}  // namespace flow::storage
