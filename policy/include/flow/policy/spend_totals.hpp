#pragma once
// What evaluation may ask of the ledger. Both answers are advisory: evaluation refuses early when
// they show a cap is already reached, but the ledger's atomic reservation against the returned
// CapChecks is what actually holds a payment to its caps.
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "flow/payment/amount.hpp"

namespace flow::policy {

struct SpendTotal {
  payment::Atomic amount = 0;  // atomic units of the counter's unit (zero for count-only caps)
  std::uint64_t count = 0;     // payments
};

// Money held against a counter (CapCheck::counter_key) since `window_start`, counted the way the
// ledger counts for a reservation (reserved, signed, submitted, settled, unknown).
class SpendTotals {
 public:
  virtual ~SpendTotals() = default;
  virtual SpendTotal spent(std::string_view counter_key, std::int64_t window_start) const = 0;
};

// Whether the ledger holds a payment to this payee on this network (for review.new_pay_to).
// When unsure, answer false: the payment then goes to a human.
class PayeeHistory {
 public:
  virtual ~PayeeHistory() = default;
  virtual bool has_paid(std::string_view network, std::string_view pay_to) const = 0;
};

struct LedgerFacts {
  const SpendTotals& totals;
  const PayeeHistory& payees;
};

// In-memory answers: for tests, the benchmark, and a cache of the ledger's counters. Totals are
// stored for the current windows only (window_start is not consulted).
class SpendTotalsMap final : public SpendTotals {
 public:
  void set(std::string counter_key, SpendTotal total) { totals_[std::move(counter_key)] = total; }
  SpendTotal spent(std::string_view counter_key, std::int64_t window_start) const override;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, SpendTotal, Hash, std::equal_to<>> totals_;
};

class PayeeSet final : public PayeeHistory {
 public:
  // EVM addresses are stored lower-case, so either spelling is found.
  void add(std::string_view network, std::string_view pay_to);
  bool has_paid(std::string_view network, std::string_view pay_to) const override;

 private:
  std::set<std::pair<std::string, std::string>, std::less<>> paid_;
};

}  // namespace flow::policy
