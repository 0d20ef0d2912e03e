#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flow/payment/ascii.hpp"

namespace flow::proxy {

struct Header {
  std::string name;
  std::string value;
};
using HeaderList = std::vector<Header>;

using payment::iequals;

// True for an RFC 9110 token (field names, and one-word values such as a prepared id): one or
// more of A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~.
bool is_token(std::string_view s);

// Returns the first header with that name (case-insensitive), or nullptr.
const Header* find_header(const HeaderList& headers, std::string_view name);
std::size_t count_headers(const HeaderList& headers, std::string_view name);
void remove_headers(HeaderList& headers, std::string_view name);

// True when a comma-separated header list (e.g. Connection, Expect) names `token`.
bool header_has_token(const HeaderList& headers, std::string_view name, std::string_view token);

struct HttpVersion {
  int major = 1;
  int minor = 1;
  bool at_least_1_1() const { return major > 1 || (major == 1 && minor >= 1); }
};

struct RequestHead {
  std::string method;
  std::string target;
  HttpVersion version;
  HeaderList headers;
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  HttpVersion version;
  HeaderList headers;
};

// Removes the hop-by-hop headers of RFC 9110 §7.6.1 and the ones a proxy must never pass on:
// Connection and every header it names, Proxy-Connection, Keep-Alive, TE, Trailer, Upgrade,
// Proxy-Authorization, Proxy-Authenticate. Framing headers (Content-Length, Transfer-Encoding)
// are removed too: the proxy decides framing for each hop itself.
void strip_hop_by_hop(HeaderList& headers);

// Removes the agent's control headers (X-402flow-*): they are for this proxy, never the origin.
void strip_control_headers(HeaderList& headers);

// Appends "1.1 402flow" (with the received protocol version) to Via.
void append_via(HeaderList& headers, HttpVersion received);

void serialize_request_head(const RequestHead& head, std::string& out);
// Serializes an HTTP/1.1 status line and headers (ending with the blank line).
void serialize_response_head(int status, std::string_view reason, const HeaderList& headers,
                             std::string& out);

std::string_view default_reason(int status);

}  // namespace flow::proxy
