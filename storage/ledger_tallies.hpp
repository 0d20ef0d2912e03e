// Internal: the queries behind Ledger::tallies().
#pragma once
#include <cstddef>
#include <string_view>

#include "flow/storage/payment_attempt.hpp"

#include "flow/storage/ledger_tallies.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::ledger_tallies {

Result<LedgerTallies> count(LedgerContext& ctx, std::size_t merchant_limit);

// The running tallies count() reads, kept in the transaction of what they count.
Result<void> add_decision(LedgerContext& ctx, std::string_view outcome, std::string_view reason);
Result<void> add_settled(LedgerContext& ctx, const PaymentIntent& intent);

}  // namespace flow::storage::ledger_tallies
