#include "flow/proxy/http/target.hpp"

#include "flow/payment/ascii.hpp"

#include <charconv>

namespace flow::proxy {
namespace {

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// host[:port] with an optional default port; IPv6 literals in brackets.
bool parse_host_port(std::string_view hp, std::optional<std::uint16_t> default_port, Target& t) {
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!hp.empty() && hp.front() == '[') {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) return false;
    host = hp.substr(1, close - 1);
    const auto rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
      has_port = true;
    }
    if (host.empty()) return false;
    for (char c : host) {
      const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      if (!hex && c != ':' && c != '.') return false;
    }
  } else {
    const auto colon = hp.rfind(':');
    host = hp.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = hp.substr(colon + 1);
      has_port = true;
    }
    if (host.empty() || host.size() > 253) return false;
    for (char c : host) {
      if (!valid_host_char(c)) return false;
    }
  }
  if (has_port) {
    if (!parse_port(port_text, t.port)) return false;
  } else if (default_port) {
    t.port = *default_port;
  } else {
    return false;
  }
  t.host = payment::ascii_lower(host);
  return true;
}

}  // namespace

std::string Target::pool_key() const {
  if (address.empty()) return origin_key();
  return origin_key() + "@" + address;
}

std::string Target::origin_key() const {
  return scheme + "://" + authority();
}

std::string Target::authority() const {
  std::string out;
  if (host.find(':') != std::string::npos) {
    out = "[" + host + "]";
  } else {
    out = host;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string Target::host_header() const {
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (!default_port) return authority();
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::optional<Target> parse_absolute_target(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Target t;
  t.scheme = payment::ascii_lower(url.substr(0, sep));
  std::optional<std::uint16_t> default_port;
  if (t.scheme == "http") {
    default_port = 80;
  } else if (t.scheme == "https") {
    default_port = 443;
  } else {
    return std::nullopt;
  }
  std::string_view rest = url.substr(sep + 3);
  const auto path_start = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, path_start);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  if (!parse_host_port(authority, default_port, t)) return std::nullopt;
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (const auto hash = path.find('#'); hash != std::string_view::npos) return std::nullopt;
  if (path.empty() || path.front() != '/') {
    t.path = "/";
    t.path += path;
  } else {
    t.path = path;
  }
  return t;
}

std::optional<Target> parse_host_header(std::string_view value) {
  Target t;
  if (!parse_host_port(value, 80, t)) return std::nullopt;
  return t;
}

std::optional<Target> parse_authority(std::string_view authority) {
  Target t;
  if (!parse_host_port(authority, std::nullopt, t) || t.port == 0) return std::nullopt;
  return t;
}

std::optional<Target> parse_listen_address(std::string_view text) {
  Target t;
  if (!parse_host_port(text, std::nullopt, t)) return std::nullopt;
  return t;
}

}  // namespace flow::proxy
