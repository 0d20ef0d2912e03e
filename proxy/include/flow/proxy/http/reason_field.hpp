#pragma once
#include <optional>
#include <string_view>

#include "flow/payment/reason.hpp"

namespace flow::proxy {

// The reason code an answer or an access-log line carries: a payment::Reason, or none. The wire
// (X-402flow-Error, problem+json `code`, the log's `reason`) reads name().
class ReasonField {
 public:
  ReasonField() = default;
  ReasonField(payment::Reason reason) : reason_(reason) {}  // NOLINT: a reason is a field's value

  const std::optional<payment::Reason>& reason() const { return reason_; }
  bool empty() const { return !reason_.has_value(); }
  std::string_view name() const { return reason_ ? payment::reason_name(*reason_) : ""; }

  friend bool operator==(const ReasonField&, const ReasonField&) = default;

 private:
  std::optional<payment::Reason> reason_;
};

}  // namespace flow::proxy
