#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "flow/payment/unix_clock.hpp"
#include "flow/storage/decision.hpp"

namespace flow::storage {

std::string new_record_id(std::string_view prefix) {
  // 6 bytes of the clock (milliseconds, big-endian) then 10 random: ids made one after another
  // sort together, so the tables keyed by them grow at one end of their B-tree instead of
  // dirtying a random page per insert (which, once the table outgrows the cache, means a read
  // and a WAL page per payment). 80 random bits keep them unguessable.
  std::array<unsigned char, 16> bytes{};
  const auto ms = static_cast<std::uint64_t>(payment::unix_now_ms());
  for (int i = 0; i < 6; ++i)
    bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  if (RAND_bytes(bytes.data() + 6, static_cast<int>(bytes.size() - 6)) != 1) {
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
