#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "flow/payment/offer.hpp"
#include "flow/storage/request_subject.hpp"

namespace flow::storage {

// pending -> approved | denied | expired; the last three are final.
enum class ApprovalState { pending, approved, denied, expired };
std::string_view approval_state_name(ApprovalState state);
std::optional<ApprovalState> approval_state_from_name(std::string_view name);

// A review decision's question to a person: may this request pay this offer?
struct ApprovalRequest : RequestSubject {
  std::string decision_id;
  std::string rule;
  payment::Offer offer;
  unsigned decimals = 0;
  std::int64_t expires_at_ms = 0;
};

struct Approval {
  std::string id;  // "apr_..."
  ApprovalRequest request;
  ApprovalState state = ApprovalState::pending;
  std::int64_t created_at_ms = 0;
  std::int64_t resolved_at_ms = 0;
  std::string resolved_by;
  std::string note;
};

}  // namespace flow::storage
