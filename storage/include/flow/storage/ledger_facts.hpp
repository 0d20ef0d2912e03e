#pragma once
#include <string_view>

#include "flow/policy/spend_totals.hpp"
#include "flow/storage/ledger.hpp"

namespace flow::storage {

// Policy evaluation's view of the ledger, read inside the writer's transaction so the answers
// and the reservation that follows see the same state. Fails closed: a read error answers
// "cap reached" and "payee never paid" (the payment is then refused or goes to a human), and
// `failed()` tells the caller to refuse with storage_failed instead.
class LedgerSpendTotals final : public policy::SpendTotals, public policy::PayeeHistory {
 public:
  explicit LedgerSpendTotals(Ledger& ledger) : ledger_(ledger) {}
  policy::SpendTotal spent(std::string_view counter_key, std::int64_t window_start) const override;
  bool has_paid(std::string_view network, std::string_view pay_to) const override;
  bool failed() const { return failed_; }
  policy::LedgerFacts facts() const { return {*this, *this}; }

 private:
  Ledger& ledger_;
  mutable bool failed_ = false;
};

}  // namespace flow::storage
