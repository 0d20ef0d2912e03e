#include "flow/proxy/network/client_hello.hpp"

#include <arpa/inet.h>

#include <bitset>
#include <cstring>

namespace flow::proxy {
namespace {

constexpr std::uint8_t content_type_handshake = 22;
constexpr std::uint8_t handshake_client_hello = 1;
constexpr std::size_t record_header_size = 5;
constexpr std::size_t handshake_header_size = 4;
constexpr std::size_t max_record_payload = 16384;  // 2^14, RFC 8446 §5.1
// legacy_version, random, three empty-or-minimal length-prefixed vectors (session id 1 byte,
// cipher suites 2 + one suite, compression 1 + one method).
constexpr std::size_t min_client_hello_body = 2 + 32 + 1 + 2 + 2 + 1 + 1;
constexpr std::size_t max_method_length = 24;

std::uint16_t be16(std::string_view d, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(d[at]) << 8) |
                                    static_cast<std::uint8_t>(d[at + 1]));
}

std::uint8_t byte_at(std::string_view d, std::size_t at) {
  return static_cast<std::uint8_t>(d[at]);
}

// The checks of a record header that the bytes present allow; empty when none failed.
std::string_view record_header_problem(std::string_view header) {
  if (!header.empty() && byte_at(header, 0) != content_type_handshake) return "record_content_type";
  if (header.size() >= 2 && byte_at(header, 1) != 3) return "record_version";
  if (header.size() >= 3 && (byte_at(header, 2) < 1 || byte_at(header, 2) > 4)) {
    return "record_version";
  }
  if (header.size() >= 5) {
    const std::size_t length = be16(header, 3);
    if (length == 0 || length > max_record_payload) return "record_length";
  }
  return {};
}

// Reads a handshake body that is known to be complete: any shortfall is malformed.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}
  bool empty() const { return pos_ == data_.size(); }
  bool u8(std::uint8_t& out) {
    if (data_.size() - pos_ < 1) return false;
    out = byte_at(data_, pos_++);
    return true;
  }
  bool u16(std::uint16_t& out) {
    if (data_.size() - pos_ < 2) return false;
    out = be16(data_, pos_);
    pos_ += 2;
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool prefixed8(std::string_view& out) {
    std::uint8_t n = 0;
    return u8(n) && bytes(n, out);
  }
  bool prefixed16(std::string_view& out) {
    std::uint16_t n = 0;
    return u16(n) && bytes(n, out);
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

ClientHelloRead verdict(ClientHelloStatus status, std::string_view reason) {
  ClientHelloRead read;
  read.status = status;
  read.reason = reason;
  return read;
}

ClientHelloRead malformed(std::string_view reason) {
  return verdict(ClientHelloStatus::malformed, reason);
}

bool is_ip_literal(std::string_view name) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (name.size() >= sizeof text) return false;
  std::memcpy(text, name.data(), name.size());
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, text, address) == 1 || inet_pton(AF_INET6, text, address) == 1;
}

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool is_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!is_label_char(c)) return false;
  }
  return true;
}

bool is_all_digits(std::string_view label) {
  for (char c : label) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string lower_case(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// server_name (RFC 6066 §3): a list holding exactly one host_name, as OpenSSL also requires.
std::string_view read_server_name(std::string_view ext, ClientHello& hello) {
  Cursor c(ext);
  std::string_view list;
  if (!c.prefixed16(list) || !c.empty() || list.empty()) return "server_name_length";
  Cursor entries(list);
  std::uint8_t type = 0;
  std::string_view name;
  if (!entries.u8(type) || type != 0) return "server_name_type";
  if (!entries.prefixed16(name) || name.empty()) return "server_name_length";
  if (!entries.empty()) return "server_name_list";
  if (is_ip_literal(name)) return {};  // clients must not send one: treated as no name
  if (!is_sni_host_name(name)) return "server_name_invalid";
  hello.sni = lower_case(name);
  return {};
}

// application_layer_protocol_negotiation (RFC 7301 §3.1): non-empty names in a non-empty list.
std::string_view read_alpn(std::string_view ext, ClientHello& hello) {
  Cursor c(ext);
  std::string_view list;
  if (!c.prefixed16(list) || !c.empty() || list.empty()) return "alpn_length";
  Cursor names(list);
  while (!names.empty()) {
    std::string_view name;
    if (!names.prefixed8(name) || name.empty()) return "alpn_name";
    hello.alpn.emplace_back(name);
  }
  return {};
}

// supported_versions in a ClientHello (RFC 8446 §4.2.1): versions<2..254>.
std::string_view read_supported_versions(std::string_view ext, ClientHello& hello) {
  Cursor c(ext);
  std::string_view list;
  if (!c.prefixed8(list) || !c.empty() || list.size() < 2 || list.size() % 2 != 0) {
    return "supported_versions_length";
  }
  for (std::size_t i = 0; i < list.size(); i += 2)
    hello.supported_versions.push_back(be16(list, i));
  return {};
}

std::string_view read_extension(std::uint16_t type, std::string_view data, ClientHello& hello) {
  switch (type) {
    case tls_ext_server_name:
      return read_server_name(data, hello);
    case tls_ext_alpn:
      return read_alpn(data, hello);
    case tls_ext_supported_versions:
      return read_supported_versions(data, hello);
    case tls_ext_encrypted_client_hello:
      hello.encrypted_client_hello = true;
      return {};
    default:
      return {};
  }
}

// The extensions block: each extension once at most (RFC 8446 §4.2), each length inside it.
std::string_view read_extensions(std::string_view block, ClientHello& hello) {
  std::bitset<65536> seen;
  Cursor c(block);
  while (!c.empty()) {
    std::uint16_t type = 0;
    std::string_view data;
    if (!c.u16(type) || !c.prefixed16(data)) return "extension_length";
    if (seen.test(type)) return "extension_duplicate";
    seen.set(type);
    if (auto problem = read_extension(type, data, hello); !problem.empty()) return problem;
  }
  return {};
}

// ClientHello (RFC 8446 §4.1.2) from a complete handshake body.
ClientHelloRead parse_body(std::string_view body) {
  ClientHelloRead read;
  Cursor c(body);
  std::string_view random, session_id, suites, compression, extensions;
  if (!c.u16(read.hello.legacy_version) || !c.bytes(32, random)) return malformed("random");
  if (!c.prefixed8(session_id) || session_id.size() > 32) return malformed("session_id_length");
  if (!c.prefixed16(suites) || suites.size() < 2 || suites.size() % 2 != 0) {
    return malformed("cipher_suites_length");
  }
  if (!c.prefixed8(compression) || compression.empty()) return malformed("compression_methods");
  if (!c.empty()) {  // a TLS 1.2 hello may end here, with no extensions block at all
    if (!c.prefixed16(extensions)) return malformed("extensions_length");
    if (!c.empty()) return malformed("handshake_trailing_data");
    if (auto problem = read_extensions(extensions, read.hello); !problem.empty()) {
      return malformed(problem);
    }
  }
  read.status = ClientHelloStatus::ok;
  return read;
}

// The handshake message gathered from the records read so far. It stays a view of the input
// while one record holds it and is copied only when the client fragments it.
class HandshakeBytes {
 public:
  void add(std::string_view fragment) {
    if (fragment.empty()) return;
    if (!joined_ && view_.empty()) {
      view_ = fragment;
      return;
    }
    if (!joined_) {
      copy_.assign(view_);
      joined_ = true;
    }
    copy_.append(fragment);
  }
  std::string_view bytes() const { return joined_ ? std::string_view(copy_) : view_; }

 private:
  std::string_view view_;
  std::string copy_;
  bool joined_ = false;
};

// Checks of the handshake header the gathered bytes allow, given that `promised` bytes of
// handshake data will have arrived once the current record is complete.
std::optional<ClientHelloRead> handshake_header_problem(std::string_view gathered,
                                                        std::size_t promised,
                                                        std::size_t max_bytes) {
  if (gathered.empty()) return std::nullopt;
  if (byte_at(gathered, 0) != handshake_client_hello) return malformed("handshake_type");
  if (gathered.size() < handshake_header_size) return std::nullopt;
  const std::size_t length = (std::size_t{byte_at(gathered, 1)} << 16) |
                             (std::size_t{byte_at(gathered, 2)} << 8) | byte_at(gathered, 3);
  if (length < min_client_hello_body) return malformed("handshake_length");
  if (record_header_size + handshake_header_size + length > max_bytes) {
    return verdict(ClientHelloStatus::too_large, "handshake_length");
  }
  if (promised > handshake_header_size + length) return malformed("record_trailing_data");
  return std::nullopt;
}

std::size_t handshake_length(std::string_view gathered) {
  return (std::size_t{byte_at(gathered, 1)} << 16) | (std::size_t{byte_at(gathered, 2)} << 8) |
         byte_at(gathered, 3);
}

// Waiting is worth it only while the bytes still to come stay within the cap.
ClientHelloRead need_more_within(std::size_t needed, std::size_t max_bytes) {
  if (needed > max_bytes) return verdict(ClientHelloStatus::too_large, "buffer_cap");
  return verdict(ClientHelloStatus::need_more, {});
}

}  // namespace

std::string_view first_bytes_name(FirstBytes kind) {
  switch (kind) {
    case FirstBytes::need_more:
      return "need_more";
    case FirstBytes::tls_client_hello:
      return "tls_client_hello";
    case FirstBytes::http:
      return "http";
    case FirstBytes::other:
      return "other";
  }
  return "other";
}

std::string_view client_hello_status_name(ClientHelloStatus status) {
  switch (status) {
    case ClientHelloStatus::ok:
      return "ok";
    case ClientHelloStatus::need_more:
      return "need_more";
    case ClientHelloStatus::too_large:
      return "too_large";
    case ClientHelloStatus::malformed:
      return "malformed";
  }
  return "malformed";
}

namespace {

FirstBytes classify_tls(std::string_view data) {
  if (!record_header_problem(data.substr(0, record_header_size)).empty()) return FirstBytes::other;
  if (data.size() <= record_header_size) return FirstBytes::need_more;
  return byte_at(data, record_header_size) == handshake_client_hello ? FirstBytes::tls_client_hello
                                                                     : FirstBytes::other;
}

bool is_method_char(char c) {
  return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

// Methods llhttp knows are upper-case letters, '-' and '_'; the request target starts with a
// visible character ('/', '*', a scheme, an authority).
FirstBytes classify_http(std::string_view data) {
  std::size_t i = 0;
  while (i < data.size() && i < max_method_length && is_method_char(data[i])) ++i;
  if (i == data.size()) return i < max_method_length ? FirstBytes::need_more : FirstBytes::other;
  if (i == 0 || data[i] != ' ') return FirstBytes::other;
  if (i + 1 == data.size()) return FirstBytes::need_more;
  const char target = data[i + 1];
  return target > ' ' && target < 0x7f ? FirstBytes::http : FirstBytes::other;
}

}  // namespace

FirstBytes classify_first_bytes(std::string_view data) {
  if (data.empty()) return FirstBytes::need_more;
  if (byte_at(data, 0) == content_type_handshake) return classify_tls(data);
  return classify_http(data);
}

ClientHelloRead read_client_hello(std::string_view data, std::size_t max_bytes) {
  HandshakeBytes handshake;
  std::size_t pos = 0;
  std::size_t gathered_when_complete = 0;  // handshake bytes once every record read is whole
  for (;;) {
    const std::string_view header = data.substr(pos, record_header_size);
    if (auto problem = record_header_problem(header); !problem.empty()) return malformed(problem);
    if (header.size() < record_header_size)
      return need_more_within(pos + record_header_size, max_bytes);
    const std::size_t length = be16(header, 3);
    const std::string_view fragment = data.substr(pos + record_header_size, length);
    handshake.add(fragment);
    gathered_when_complete += length;
    if (auto problem =
            handshake_header_problem(handshake.bytes(), gathered_when_complete, max_bytes)) {
      return *problem;
    }
    pos += record_header_size + length;
    if (fragment.size() < length) return need_more_within(pos, max_bytes);
    if (pos > max_bytes) return verdict(ClientHelloStatus::too_large, "buffer_cap");
    const std::string_view gathered = handshake.bytes();
    if (gathered.size() >= handshake_header_size &&
        gathered.size() == handshake_header_size + handshake_length(gathered)) {
      ClientHelloRead read = parse_body(gathered.substr(handshake_header_size));
      read.consumed = pos;
      return read;
    }
  }
}

bool is_sni_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::string_view last;
  while (!name.empty()) {
    const std::size_t dot = name.find('.');
    last = name.substr(0, dot);
    if (!is_label(last)) return false;  // also refuses empty labels: "a..b", ".a", "a."
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
    if (name.empty()) return false;
  }
  return !is_all_digits(last);
}

}  // namespace flow::proxy
