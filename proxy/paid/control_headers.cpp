#include "flow/proxy/paid/control_headers.hpp"

#include "flow/payment/ascii.hpp"
#include "flow/payment/reason.hpp"

#include <string_view>

namespace flow::proxy {
namespace {

constexpr std::string_view kPrefix = "x-402flow-";

bool is_control_header(std::string_view name) {
  return name.size() >= kPrefix.size() && iequals(name.substr(0, kPrefix.size()), kPrefix);
}

// Every comma-separated amount must parse: "0.05 USDC, 20000 msat". Empty: no problem.
std::string max_amount_problem(std::string_view list, const policy::PolicySnapshot& policy) {
  while (true) {
    const auto comma = list.find(',');
    const std::string_view part = payment::trim_ows(list.substr(0, comma));
    auto parsed = policy.parse_amount(part);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      return "'" + std::string(part) + "': " + *error;
    }
    if (comma == std::string_view::npos) return {};
    list.remove_prefix(comma + 1);
  }
}

ControlProblem refuse(payment::Reason reason, const Header& h, std::string detail) {
  return {reason, h.name, h.name + ": " + std::move(detail)};
}

ControlProblem invalid(const Header& h, std::string detail) {
  return refuse(payment::Reason::invalid_control_header, h, std::move(detail));
}

}  // namespace

std::variant<AgentControls, ControlProblem> read_control_headers(
    const HeaderList& headers, const policy::PolicySnapshot& policy) {
  AgentControls controls;
  for (const auto& h : headers) {
    if (iequals(h.name, "idempotency-key")) {
      // Two keys are two identities for one request: which payment it may reuse is ambiguous.
      if (count_headers(headers, h.name) > 1) {
        return refuse(payment::Reason::invalid_idempotency_key, h,
                      "sent more than once; send one key per request");
      }
      controls.idempotency_key = h.value;
      continue;
    }
    if (!is_control_header(h.name)) continue;
    const bool mode = iequals(h.name, "x-402flow-mode");
    const bool prepared = iequals(h.name, "x-402flow-prepared");
    const bool max_amount = iequals(h.name, "x-402flow-max-amount");
    const bool approval = iequals(h.name, "x-402flow-approval");
    if (!mode && !prepared && !max_amount && !approval) {
      return invalid(h,
                     "unknown control header (known: X-402flow-Mode, X-402flow-Prepared, "
                     "X-402flow-Max-Amount, X-402flow-Approval); nothing was forwarded or paid");
    }
    if (count_headers(headers, h.name) > 1) {
      return invalid(h, "sent more than once; send it once, with one value");
    }
    if (h.value.empty()) return invalid(h, "empty value");
    if (mode) {
      if (!iequals(h.value, "prepare")) {
        return invalid(h, "unknown mode '" + h.value + "' (the only mode is 'prepare')");
      }
      controls.prepare = true;
    } else if (prepared) {
      if (!is_token(h.value)) {
        return invalid(h, "not a prepared id (one token, as X-402flow-Prepared was answered)");
      }
      controls.prepared_id = h.value;
    } else if (approval) {
      if (!is_token(h.value)) {
        return invalid(h, "not an approval id (one token, as X-402flow-Approval was answered)");
      }
      controls.approval_id = h.value;
    } else {
      if (auto problem = max_amount_problem(h.value, policy); !problem.empty()) {
        return refuse(payment::Reason::bad_max_amount, h,
                      problem + " (write e.g. \"0.05 USDC\" or \"0.05 USDC, 20000 msat\")");
      }
      controls.max_amount = h.value;
    }
  }
  return controls;
}

}  // namespace flow::proxy
