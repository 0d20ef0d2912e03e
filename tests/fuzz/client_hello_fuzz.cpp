// Arbitrary bytes through the first-bytes classifier and the ClientHello reader, with the
// invariants a peek relies on: a hello that reads is read the same when its handshake is cut into
// other record sizes, its proper prefixes need more bytes, a smaller cap gives the same answer or
// "too large", and any name it reports is a lower-case DNS host name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "flow/proxy/network/client_hello.hpp"

namespace {

using namespace flow::proxy;

void require(bool condition) {
  if (!condition) std::abort();
}

// The handshake bytes of the records that the reader consumed.
std::string handshake_of(std::string_view records) {
  std::string out;
  while (records.size() >= 5) {
    const std::size_t length =
        (static_cast<std::uint8_t>(records[3]) << 8) | static_cast<std::uint8_t>(records[4]);
    out.append(records.substr(5, length));
    records.remove_prefix(5 + length);
  }
  return out;
}

std::string refragment(const std::string& handshake, std::size_t size) {
  std::string out;
  for (std::size_t at = 0; at < handshake.size(); at += size) {
    const std::string piece = handshake.substr(at, size);
    out += "\x16\x03\x03";
    out += static_cast<char>(piece.size() >> 8);
    out += static_cast<char>(piece.size() & 0xff);
    out += piece;
  }
  return out;
}

bool same_hello(const ClientHello& a, const ClientHello& b) {
  return a.sni == b.sni && a.alpn == b.alpn && a.legacy_version == b.legacy_version &&
         a.supported_versions == b.supported_versions &&
         a.encrypted_client_hello == b.encrypted_client_hello;
}

void check_name(const ClientHello& hello) {
  if (!hello.sni) return;
  require(is_sni_host_name(*hello.sni));
  for (char c : *hello.sni) require(c < 'A' || c > 'Z');
}

void check_ok(std::string_view input, const ClientHelloRead& read) {
  require(read.consumed > 0 && read.consumed <= input.size());
  require(read.consumed <= client_hello_max_bytes);
  require(classify_first_bytes(input) == FirstBytes::tls_client_hello);
  check_name(read.hello);
  const std::string_view records = input.substr(0, read.consumed);
  for (std::size_t cut : {read.consumed - 1, read.consumed / 2, std::size_t{5}, std::size_t{0}}) {
    if (cut < read.consumed) {
      require(read_client_hello(records.substr(0, cut)).status == ClientHelloStatus::need_more);
    }
  }
  const std::string handshake = handshake_of(records);
  const std::size_t size = 1 + static_cast<std::uint8_t>(input.back()) % 97;
  const std::string split = refragment(handshake, size);
  const auto again = read_client_hello(split);
  if (split.size() <= client_hello_max_bytes) {
    require(again.status == ClientHelloStatus::ok && same_hello(again.hello, read.hello));
  } else {
    require(again.status == ClientHelloStatus::too_large);  // the record overhead crossed the cap
  }

  const auto capped = read_client_hello(input, 512);
  if (read.consumed <= 512) {
    require(capped.status == ClientHelloStatus::ok && same_hello(capped.hello, read.hello));
  } else {
    require(capped.status == ClientHelloStatus::too_large);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const FirstBytes kind = classify_first_bytes(input);
  const auto read = read_client_hello(input);
  switch (read.status) {
    case ClientHelloStatus::ok:
      check_ok(input, read);
      break;
    case ClientHelloStatus::need_more:
      require(input.size() < client_hello_max_bytes && read.reason.empty());
      require(kind != FirstBytes::other && kind != FirstBytes::http);
      break;
    case ClientHelloStatus::too_large:
    case ClientHelloStatus::malformed:
      require(!read.reason.empty());
      break;
  }
  return 0;
}
