#include "flow/policy/spend_totals.hpp"

#include "flow/policy/asset_table.hpp"

namespace flow::policy {
namespace {

std::string payee_key(std::string_view pay_to) {
  return is_evm_address(pay_to) ? lower_ascii(pay_to) : std::string(pay_to);
}

}  // namespace

SpendTotal SpendTotalsMap::spent(std::string_view counter_key, std::int64_t) const {
  const auto it = totals_.find(counter_key);
  return it == totals_.end() ? SpendTotal{} : it->second;
}

void PayeeSet::add(std::string_view network, std::string_view pay_to) {
  paid_.emplace(std::string(network), payee_key(pay_to));
}

bool PayeeSet::has_paid(std::string_view network, std::string_view pay_to) const {
  return paid_.count(std::make_pair(std::string(network), payee_key(pay_to))) > 0;
}

}  // namespace flow::policy
