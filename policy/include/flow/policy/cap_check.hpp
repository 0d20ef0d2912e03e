#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "flow/payment/amount.hpp"
#include "flow/policy/budget_window.hpp"
#include "flow/policy/reason_code.hpp"

namespace flow::policy {

// A cumulative cap that applies to one payment. Policy evaluation produces the list for the
// exact offer; the ledger checks every one and reserves the amount against all of them in one
// transaction, so concurrent payments can never overshoot.
//
// The ledger counts, for `counter_key`, every reservation made at or after `window_start` that
// still holds money (reserved, signed, submitted, settled, unknown — not released or failed),
// and refuses when adding this payment would exceed `max_amount` or `max_count`.
struct CapCheck {
  std::string counter_key;        // stable id of the counter: scope, subject, asset, window kind
  std::string rule;               // where it was set in flow.yaml, e.g. "agents[alice].caps.daily"
  Reason reason;                  // the code a refusal carries (over_agent_cap, ...)
  std::int64_t window_start = 0;  // unix seconds: UTC midnight, week start, month start, or now-len
  BudgetWindow window;            // the cap's window, for a refusal to name
  std::int64_t resets_at = 0;     // unix seconds: window_resets_at() when the check was made
  std::optional<payment::Atomic> max_amount;  // in the offer's asset atomic units
  std::optional<std::uint64_t> max_count;     // number of payments in the window
};

}  // namespace flow::policy
