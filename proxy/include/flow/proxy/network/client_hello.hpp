#pragma once
// What a connection carries, read from its first bytes without consuming them: a TLS ClientHello
// (and then its SNI, ALPN and versions), the start of an HTTP/1.x request, or something else.
// Pure functions over the bytes received so far: the caller buffers, calls again when more
// arrive, and hands the same bytes on (to a TLS session, an HTTP parser or a splice).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flow::proxy {

enum class FirstBytes {
  need_more,         // too few bytes to tell
  tls_client_hello,  // a TLS handshake record that starts a ClientHello
  http,              // an HTTP/1.x request line start: an upper-case method, a space, a target
  other,
};
std::string_view first_bytes_name(FirstBytes kind);

// Decides as soon as the bytes allow: at most 6 bytes for TLS, a method and two bytes for HTTP.
FirstBytes classify_first_bytes(std::string_view data);

// The most bytes a peek buffers before giving up on a ClientHello. Real ones are well under 2 KiB
// (a post-quantum key share included); the cap leaves room for padding and many extensions.
inline constexpr std::size_t client_hello_max_bytes = 32 * 1024;

// TLS extension types this reader looks at (RFC 6066, 7301, 8446; ECH draft).
inline constexpr std::uint16_t tls_ext_server_name = 0;
inline constexpr std::uint16_t tls_ext_alpn = 16;
inline constexpr std::uint16_t tls_ext_supported_versions = 43;
inline constexpr std::uint16_t tls_ext_encrypted_client_hello = 0xfe0d;

struct ClientHello {
  // The host_name of server_name, lower-cased and checked as a DNS host name; absent when the
  // client sent none or sent an IP literal (RFC 6066 §3 forbids those).
  std::optional<std::string> sni;
  std::vector<std::string> alpn;  // in the client's order
  std::uint16_t legacy_version = 0;
  std::vector<std::uint16_t> supported_versions;  // empty when the extension is absent
  bool encrypted_client_hello = false;            // the outer hello of ECH: the SNI is a decoy
};

enum class ClientHelloStatus {
  ok,
  need_more,  // a prefix of a well-formed ClientHello so far
  too_large,  // a ClientHello (as far as read) that needs more than the byte cap
  malformed,  // not a ClientHello, or one that breaks RFC 8446 §4.1.2 / RFC 6066 §3
};
std::string_view client_hello_status_name(ClientHelloStatus status);

struct ClientHelloRead {
  ClientHelloStatus status = ClientHelloStatus::need_more;
  std::string_view reason;   // which check failed (a static name) when malformed or too large
  std::size_t consumed = 0;  // bytes of `data` the ClientHello's records took, when ok
  ClientHello hello;         // filled when ok
};

// Reads a ClientHello from the start of a connection: one or more TLS handshake records (record
// header content type 22, version 0x0301..0x0304), every length checked. Bytes after the
// ClientHello's last record are not looked at.
ClientHelloRead read_client_hello(std::string_view data,
                                  std::size_t max_bytes = client_hello_max_bytes);

// A server name as RFC 6066 allows it in SNI: a DNS host name of letters, digits, hyphens (and
// underscores, which real internal names carry), labels of 1..63, at most 253 bytes, no trailing
// dot, not all-numeric in its last label. Case is not checked; the reader lower-cases.
bool is_sni_host_name(std::string_view name);

}  // namespace flow::proxy
