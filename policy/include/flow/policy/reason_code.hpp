#pragma once
#include <optional>
#include <string_view>

#include "flow/payment/reason.hpp"

namespace flow::policy {

// Why a payment was allowed, refused or held: the policy's codes are values of the one reason
// taxonomy (flow/payment/reason.hpp), stored by name in the decisions table.
using payment::Reason;

// The earlier spellings, kept while the paid path and older tests still use them.
using ReasonCode = payment::Reason;
inline std::string_view reason_code_name(Reason code) {
  return payment::reason_name(code);
}
inline std::optional<Reason> reason_code_from_name(std::string_view name) {
  return payment::reason_from_name(name);
}

}  // namespace flow::policy
