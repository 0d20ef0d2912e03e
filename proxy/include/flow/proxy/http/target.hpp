#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flow::proxy {

// Where a proxied request goes: from an absolute-form target or a CONNECT authority.
struct Target {
  std::string scheme;  // "http" or "https" (lower case); empty for CONNECT
  std::string host;    // lower case; IPv6 without brackets
  std::uint16_t port = 0;
  std::string path;  // origin-form: path and query, at least "/"
  // The IP literal to connect to instead of resolving `host` (transparent mode: the original
  // destination the kernel recorded, while `host` is the name the client asked for). Empty:
  // resolve `host`.
  std::string address;

  // "host:port" with brackets around IPv6.
  std::string authority() const;
  // "scheme://host:port": the key of the upstream pool (a TLS connection never serves a plain
  // request to the same authority, nor the reverse). With an `address`, "scheme://host:port@ip":
  // a connection to one address never serves a request meant for another.
  std::string pool_key() const;
  // "scheme://host:port", whatever the address: the origin as the client named it.
  std::string origin_key() const;
  // The Host header value: the port is omitted when it is the scheme's default.
  std::string host_header() const;
};

// `http://host[:port][/path][?query]`; userinfo and fragments are refused.
std::optional<Target> parse_absolute_target(std::string_view url);
// A Host header's value: `host[:port]` (IPv6 in brackets); the port defaults to 80.
std::optional<Target> parse_host_header(std::string_view value);
// `host:port` as sent with CONNECT (port required).
std::optional<Target> parse_authority(std::string_view authority);
// "HOST:PORT" for --listen: "127.0.0.1:8402", "[::1]:8402", "localhost:0".
std::optional<Target> parse_listen_address(std::string_view text);

}  // namespace flow::proxy
