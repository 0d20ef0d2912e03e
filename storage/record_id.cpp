#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "flow/storage/decision.hpp"

namespace flow::storage {

std::string new_record_id(std::string_view prefix) {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // The CSPRNG failing is not a condition the proxy can work around.
    std::fputs("402flow: OpenSSL RAND_bytes failed\n", stderr);
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (unsigned char b : bytes) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 0x0f]);
  }
  return id;
}

}  // namespace flow::storage
