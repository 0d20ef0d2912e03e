#pragma once
#include <cstdint>
#include <string>

#include "flow/payment/amount.hpp"

namespace flow::payment {

// One way to pay that a 402 challenge offers, normalized across protocols. Policy decides on
// exactly this value, and it is exactly what gets signed.
struct Offer {
  std::string protocol;  // "x402", "l402", "mpp"
  int protocol_version = 0;
  std::string scheme;           // "exact", "upto", ...
  std::string network;          // CAIP-2 ("eip155:8453", "solana:..."), or "lightning"
  std::string asset;            // token contract / mint (lower-case hex for EVM), or "msat"
  Atomic amount = 0;            // atomic units of `asset`
  std::string pay_to;           // payee address (lower-case hex for EVM) or node/invoice payee
  std::string resource;         // URL the payment is for
  std::int64_t expires_at = 0;  // unix seconds; 0 = not stated
  int index = 0;                // position in the challenge's list of offers
};

}  // namespace flow::payment
