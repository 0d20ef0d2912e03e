// Internal: checking caps and holding money against them (the CapCheck contract).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "flow/policy/cap_check.hpp"
#include "flow/storage/payment_attempt.hpp"
#include "flow/storage/reserve_outcome.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::reservation {

// Ledger::reserve inside an open write transaction. `intent` is already redacted.
Result<ReserveOutcome> reserve(LedgerContext& ctx, const PaymentIntent& intent,
                               const std::vector<policy::CapCheck>& caps);

// Call after the attempt's state has moved to one that no longer holds money: removes its
// reservations from the counters' cached totals.
Result<void> release_counters(LedgerContext& ctx, std::int64_t attempt_id);

// Releases the reservations of refused credentials whose hold (Attempt::held_until) has passed;
// returns how many. Run before reading or checking held money.
Result<std::size_t> release_expired_holds(LedgerContext& ctx);

// The same totals from the counters' cache (moving its window forward as needed, never writing):
// what policy evaluation reads before a reservation, in O(rows that left the window).
Result<HeldTotals> held_for_window(LedgerContext& ctx, std::string_view key,
                                   std::int64_t window_start);

// The contract's definition: reservations for `counter_key` with from <= created_at < until
// whose attempt still holds money.
Result<HeldTotals> scan_held(LedgerContext& ctx, std::string_view counter_key, std::int64_t from,
                             std::int64_t until);

}  // namespace flow::storage::reservation
