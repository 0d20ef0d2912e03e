#pragma once
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "flow/payment/x402_challenge.hpp"

namespace flow::payment {

// The merchant's settlement evidence: PAYMENT-RESPONSE (v2) or X-PAYMENT-RESPONSE (v1),
// base64 JSON {success, errorReason?, errorMessage?, payer?, transaction, network, amount?}.
struct X402Settlement {
  bool success = false;
  std::string transaction;
  std::string network;
  std::string payer;
  std::string error_reason;  // errorReason, or errorMessage when that is all there is
  std::string raw_json;      // the decoded JSON, for the receipt's evidence
};

struct SettlementParse {
  bool present = false;                      // either header was there
  std::optional<X402Settlement> settlement;  // present and well-formed
  std::string problem;  // present but unreadable: why (bad base64, bad JSON, missing success)
};

// PAYMENT-RESPONSE is read before X-PAYMENT-RESPONSE; the first header of that name counts.
// Optional string fields with another JSON type make the evidence unreadable.
SettlementParse parse_x402_settlement(std::span<const HeaderField> headers);

// The merchant's side: base64 of the JSON for a settlement header.
std::string encode_x402_settlement(const nlohmann::json& settlement);

}  // namespace flow::payment
