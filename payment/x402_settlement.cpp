#include "flow/payment/x402_settlement.hpp"

#include "flow/payment/ascii.hpp"

#include "flow/payment/base64.hpp"
#include "x402_json.hpp"

namespace flow::payment {
namespace {

using nlohmann::json;

// Reads an optional string field; false when it is present with another JSON type.
bool optional_string(const json& doc, const char* key, std::string& out) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

SettlementParse unreadable(std::string problem) {
  SettlementParse result;
  result.present = true;
  result.problem = std::move(problem);
  return result;
}

SettlementParse read_settlement(std::string_view where, std::string_view value) {
  const std::string at(where);
  auto decoded = base64_decode(trim_ows(value));
  if (!decoded) return unreadable(at + ": not standard base64");
  const auto doc = detail::parse_json_object(*decoded);
  if (!doc) return unreadable(at + ": not a JSON object");
  const auto success = doc->find("success");
  if (success == doc->end() || !success->is_boolean())
    return unreadable(at + ": success is missing or not a boolean");

  X402Settlement settlement;
  settlement.success = success->get<bool>();
  std::string error_message;
  for (const auto& [key, out] :
       {std::pair<const char*, std::string*>{"transaction", &settlement.transaction},
        {"network", &settlement.network},
        {"payer", &settlement.payer},
        {"errorReason", &settlement.error_reason},
        {"errorMessage", &error_message}}) {
    if (!optional_string(*doc, key, *out)) return unreadable(at + ": " + key + " is not a string");
  }
  if (settlement.error_reason.empty()) settlement.error_reason = std::move(error_message);
  // The text exactly as the merchant sent it is the evidence, not our re-serialization.
  settlement.raw_json = std::move(*decoded);

  SettlementParse result;
  result.present = true;
  result.settlement = std::move(settlement);
  return result;
}

}  // namespace

// PAYMENT-RESPONSE (v2) is read before X-PAYMENT-RESPONSE (v1), as the reference client does;
// the first header of the chosen name counts.
SettlementParse parse_x402_settlement(std::span<const HeaderField> headers) {
  for (const std::string_view name : {"PAYMENT-RESPONSE", "X-PAYMENT-RESPONSE"}) {
    for (const auto& header : headers) {
      if (iequals(header.name, name)) return read_settlement(name, header.value);
    }
  }
  return {};
}

std::string encode_x402_settlement(const nlohmann::json& settlement) {
  return base64_encode(detail::dump_json(settlement));
}

}  // namespace flow::payment
