#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "flow/payment/amount.hpp"
#include "flow/policy/budget_window.hpp"
#include "flow/policy/reason_code.hpp"
#include "flow/storage/payment_attempt.hpp"

namespace flow::storage {

// Money held against one counter in one window.
struct HeldTotals {
  payment::Atomic amount = 0;
  std::uint64_t count = 0;
};

enum class CapLimit { amount, count };

// The first CapCheck (in the order given) that this payment would overshoot.
struct CapRefusal {
  payment::Reason reason = payment::Reason::over_org_cap;
  std::string rule;
  std::string counter_key;
  CapLimit limit = CapLimit::amount;
  payment::Atomic held_amount = 0;  // already held in the window, without this payment
  std::uint64_t held_count = 0;
  std::optional<payment::Atomic> max_amount;
  std::optional<std::uint64_t> max_count;
  policy::BudgetWindow window;  // the cap's window (CapCheck::window)
  std::int64_t window_start = 0;
  std::int64_t resets_at = 0;  // unix seconds (CapCheck::resets_at)
};

enum class ReserveStatus {
  reserved,  // a new attempt holds the amount against every cap
  existing,  // the (agent, idempotency key) already has an attempt: reuse it, never pay twice
  refused,   // a cap would be exceeded; nothing was reserved
};

struct ReserveOutcome {
  ReserveStatus status = ReserveStatus::refused;
  std::optional<Attempt> attempt;     // reserved, existing
  std::optional<CapRefusal> refusal;  // refused
};

}  // namespace flow::storage
