#pragma once
#include <string>
#include <variant>

#include "flow/payment/reason.hpp"
#include "flow/policy/policy_snapshot.hpp"
#include "flow/proxy/http/http_message.hpp"

namespace flow::proxy {

// What the agent asked of the proxy for this request (the X-402flow-* request headers).
struct AgentControls {
  bool prepare = false;         // X-402flow-Mode: prepare
  std::string prepared_id;      // X-402flow-Prepared
  std::string max_amount;       // X-402flow-Max-Amount (validated: every amount parses)
  std::string idempotency_key;  // Idempotency-Key, trimmed; empty when absent
  std::string approval_id;      // X-402flow-Approval: pay with this approval
};

// Why the control headers were refused: answered 400 before anything is forwarded or paid.
struct ControlProblem {
  // invalid_control_header, bad_max_amount for an amount that does not parse, or
  // invalid_idempotency_key for a repeated Idempotency-Key.
  payment::Reason code = payment::Reason::invalid_control_header;
  std::string header;  // the header as the agent spelled it
  std::string detail;
};

// Reads and validates every X-402flow-* header of a request, whether or not a 402 will follow:
// an unknown name, an empty or repeated header, a Mode other than "prepare", a Prepared or
// Approval id that is not a token, or a Max-Amount that does not parse with `policy` is a problem,
// and so is an Idempotency-Key sent more than once. A control the proxy cannot read must never fall
// back to paying.
std::variant<AgentControls, ControlProblem> read_control_headers(
    const HeaderList& headers, const policy::PolicySnapshot& policy);

}  // namespace flow::proxy
