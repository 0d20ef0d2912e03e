#include "flow/payment/x402_credential.hpp"

#include "flow/payment/base64.hpp"
#include "x402_json.hpp"

namespace flow::payment {
namespace {

using nlohmann::json;

// v2: `accepted` is the offer exactly as parsed, never rebuilt from Offer, because the server
// compares it with its own requirements (see x402_challenge.cpp). resource and extensions are
// echoed only when the merchant sent them: an explicit null is not the same as absent to a
// schema validator.
// payment-identifier: the client echoes the extension with `info.id` added (`required` and the
// schema kept as sent).
json v2_body(const X402Challenge& challenge, const X402Requirement& accepted, const json& payload,
             std::string_view payment_id) {
  json body = json::object();
  body["x402Version"] = 2;
  if (!challenge.resource.is_null()) body["resource"] = challenge.resource;
  body["accepted"] = accepted.raw;
  body["payload"] = payload;
  if (!challenge.extensions.is_null()) body["extensions"] = challenge.extensions;
  if (!payment_id.empty() && advertises_payment_identifier(challenge)) {
    json& extension = body["extensions"]["payment-identifier"];
    if (!extension["info"].is_object()) extension["info"] = json::object();
    extension["info"]["id"] = std::string(payment_id);
  }
  return body;
}

// v1 (and h402, which keeps the v1 shape under its own version key): scheme and network as the
// merchant wrote them, so "base" goes back as "base", not as CAIP-2.
json v1_body(const X402Challenge& challenge, const X402Requirement& accepted, const json& payload) {
  json body = json::object();
  const bool h402 = challenge.source == ChallengeSource::h402_body;
  body[h402 ? "h402Version" : "x402Version"] = 1;
  for (const char* key : {"scheme", "network", "namespace", "networkId"}) {
    const auto it = accepted.raw.find(key);
    if (it != accepted.raw.end()) body[key] = *it;
  }
  body["payload"] = payload;
  return body;
}

}  // namespace

// An index outside accepts gives an empty credential (no header name): a caller bug, reported as
// a value rather than thrown on the data path.
X402Credential encode_x402_credential(const X402Challenge& challenge, std::size_t accepted_index,
                                      const nlohmann::json& payload, std::string_view payment_id) {
  if (accepted_index >= challenge.accepts.size()) return {};
  const auto& accepted = challenge.accepts[accepted_index];
  if (challenge.version == 2) {
    return {"PAYMENT-SIGNATURE",
            base64_encode(detail::dump_json(v2_body(challenge, accepted, payload, payment_id)))};
  }
  return {"X-PAYMENT", base64_encode(detail::dump_json(v1_body(challenge, accepted, payload)))};
}

std::optional<nlohmann::json> decode_x402_credential(std::string_view header_value) {
  const auto decoded = base64_decode(header_value);
  if (!decoded) return std::nullopt;
  return detail::parse_json_object(*decoded);
}

}  // namespace flow::payment
