// Arbitrary bytes through the x402 wire-format readers: the challenge (from headers and body),
// the settlement evidence, and the credential decoder, plus a credential built from whatever
// challenge came out. Input layout: chunks separated by "\n--\n"; the first chunks become
// header values under names the first byte picks, the last chunk is the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flow/payment/x402_challenge.hpp"
#include "flow/payment/x402_credential.hpp"
#include "flow/payment/x402_settlement.hpp"

namespace {

constexpr std::string_view kNames[] = {
    "PAYMENT-REQUIRED", "payment-required",   "WWW-Authenticate", "www-authenticate",
    "PAYMENT-RESPONSE", "X-PAYMENT-RESPONSE", "Content-Type",     "X-Other",
};
constexpr std::size_t kNameCount = sizeof(kNames) / sizeof(kNames[0]);
constexpr std::size_t kMaxHeaders = 6;

std::vector<std::string_view> split(std::string_view input) {
  constexpr std::string_view kSep = "\n--\n";
  std::vector<std::string_view> parts;
  while (parts.size() < kMaxHeaders) {
    const auto at = input.find(kSep);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + kSep.size());
  }
  parts.push_back(input);
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const unsigned selector = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto parts = split(input);

  std::vector<flow::payment::HeaderField> headers;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const auto name = kNames[(selector + i * 3) % kNameCount];
    headers.push_back({name, parts[i]});
  }
  // With a single chunk, let it be a header value as well as the body.
  if (headers.empty()) headers.push_back({kNames[selector % kNameCount], parts.back()});
  const std::string_view body = parts.back();

  const auto parsed = flow::payment::parse_x402_challenge(headers, body, "https://fuzz.example/");
  if (parsed.challenge) {
    const auto& challenge = *parsed.challenge;
    if (challenge.accepts.empty() || challenge.accepts.size() > flow::payment::kMaxOffers)
      __builtin_trap();  // a challenge always has 1..kMaxOffers offers
    const nlohmann::json payload = {{"signature", "0x00"}};
    const auto index = selector % challenge.accepts.size();
    const auto credential = flow::payment::encode_x402_credential(challenge, index, payload);
    const auto decoded = flow::payment::decode_x402_credential(credential.header_value);
    if (!decoded) __builtin_trap();  // what we encode we must read back
    if (challenge.version == 2) {
      const auto accepted = decoded->find("accepted");
      if (accepted == decoded->end() || *accepted != challenge.accepts[index].raw)
        __builtin_trap();  // `accepted` is echoed exactly
    }
  }
  (void)flow::payment::parse_x402_settlement(headers);
  (void)flow::payment::decode_x402_credential(body);
  return 0;
}
