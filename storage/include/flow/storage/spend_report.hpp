#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flow/payment/amount.hpp"

namespace flow::storage {

// A budget counter as the ledger last saw it: the limits recorded from the most recent
// CapCheck for it, and what is held in the window that check named.
struct CounterTotals {
  std::string counter_key;
  std::string rule;
  std::string reason;
  std::string network;
  std::string asset;
  unsigned decimals = 0;
  std::int64_t window_start = 0;  // unix seconds
  payment::Atomic held_amount = 0;
  std::uint64_t held_count = 0;
  std::optional<payment::Atomic> max_amount;
  std::optional<std::uint64_t> max_count;
  std::int64_t updated_at_ms = 0;
};

// Money held by one agent or one merchant in one asset, over the whole ledger.
struct SpendBySubject {
  std::string subject;  // agent id or merchant origin
  std::string network;
  std::string asset;
  unsigned decimals = 0;
  payment::Atomic settled = 0;
  // reserved, signed, submitted, and refused credentials held until they expire
  payment::Atomic in_flight = 0;
  payment::Atomic unknown = 0;  // outcome unknown: still counted against caps
  std::uint64_t payments = 0;   // attempts holding money
};

struct SpendReport {
  std::vector<CounterTotals> counters;
  std::vector<SpendBySubject> by_agent;
  std::vector<SpendBySubject> by_merchant;
};

}  // namespace flow::storage
