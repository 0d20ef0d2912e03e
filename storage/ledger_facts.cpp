#include "flow/storage/ledger_facts.hpp"

#include <limits>

namespace flow::storage {

policy::SpendTotal LedgerSpendTotals::spent(std::string_view counter_key,
                                            std::int64_t window_start) const {
  auto held = ledger_.cached_held(counter_key, window_start);
  if (!held.ok()) {
    failed_ = true;
    return {std::numeric_limits<payment::Atomic>::max(), std::numeric_limits<std::uint64_t>::max()};
  }
  return {held.value().amount, held.value().count};
}

bool LedgerSpendTotals::has_paid(std::string_view network, std::string_view pay_to) const {
  auto paid = ledger_.has_paid(network, pay_to);
  if (!paid.ok()) {
    failed_ = true;
    return false;
  }
  return paid.value();
}

}  // namespace flow::storage
