// The x402 headers a test origin answers with when it plays a merchant itself: one Base USDC
// offer in PAYMENT-REQUIRED, and a successful PAYMENT-RESPONSE.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flow/payment/base64.hpp"

namespace flow::testing {

constexpr std::string_view kBaseUsdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
constexpr std::string_view kMerchantPayTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

// A v2 challenge (PAYMENT-REQUIRED) for one Base USDC offer of `amount` atomic units.
inline std::string v2_challenge(const std::string& url, std::string_view amount = "10000") {
  const nlohmann::json challenge = {{"x402Version", 2},
                                    {"error", "Payment required"},
                                    {"resource", {{"url", url}}},
                                    {"accepts",
                                     {{{"scheme", "exact"},
                                       {"network", "eip155:8453"},
                                       {"amount", amount},
                                       {"asset", kBaseUsdc},
                                       {"payTo", kMerchantPayTo},
                                       {"maxTimeoutSeconds", 60},
                                       {"extra", {{"name", "USD Coin"}, {"version", "2"}}}}}}};
  return flow::payment::base64_encode(challenge.dump());
}

// A PAYMENT-RESPONSE saying the payment settled on Base.
inline std::string settlement_success() {
  const nlohmann::json s = {
      {"success", true}, {"transaction", "0x" + std::string(64, 'a')}, {"network", "eip155:8453"}};
  return flow::payment::base64_encode(s.dump());
}

}  // namespace flow::testing
