#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flow/payment/x402_challenge.hpp"

namespace flow::payment {

// The retry header that carries a payment.
struct X402Credential {
  std::string header_name;   // "PAYMENT-SIGNATURE" (v2) or "X-PAYMENT" (v1)
  std::string header_value;  // standard base64 (with padding) of the JSON below
};

// v2: {"x402Version":2,"resource":<as sent>,"accepted":<accepts[i] exactly as sent>,
//      "payload":<payload>,"extensions":<as sent, when present>}
// v1: {"x402Version":1,"scheme":<as sent>,"network":<as sent>,"payload":<payload>}
// h402 (source h402_body): the v1 shape under "h402Version":1, with namespace/networkId echoed
// when the offer had them.
// `payment_id`: when the merchant advertises `payment-identifier` (v2), the echoed extension's
// `info.id` (16–128 characters of [A-Za-z0-9_-]); empty: the extension is echoed as sent.
// `accepted_index` must be a valid index of challenge.accepts; otherwise the result is empty
// (no header name) rather than an exception.
X402Credential encode_x402_credential(const X402Challenge& challenge, std::size_t accepted_index,
                                      const nlohmann::json& payload,
                                      std::string_view payment_id = {});

// The merchant's side: the JSON inside PAYMENT-SIGNATURE / X-PAYMENT, or nothing when it is not
// standard base64 of a JSON object.
std::optional<nlohmann::json> decode_x402_credential(std::string_view header_value);

}  // namespace flow::payment
