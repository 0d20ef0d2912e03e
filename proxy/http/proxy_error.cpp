#include "flow/proxy/http/proxy_error.hpp"

#include <array>
#include <cstddef>

#include "flow/proxy/http/http_message.hpp"

namespace flow::proxy {

namespace {

using payment::Reason;

// ProxyError in enum order, after none.
constexpr std::array kReasons = {
    Reason::bad_request,          Reason::header_too_large,   Reason::request_timeout,
    Reason::connect_port_denied,  Reason::loop_detected,      Reason::not_implemented,
    Reason::upstream_unreachable, Reason::upstream_timeout,   Reason::upstream_protocol,
    Reason::too_many_connections, Reason::client_closed,      Reason::upstream_closed,
    Reason::shutting_down,        Reason::proxy_auth_required};
static_assert(kReasons.size() + 1 == static_cast<std::size_t>(kProxyErrorCount));

}  // namespace

std::optional<payment::Reason> reason_of(ProxyError e) {
  const auto i = static_cast<std::size_t>(e);
  if (i == 0 || i > kReasons.size()) return std::nullopt;
  return kReasons[i - 1];
}

std::string_view proxy_error_name(ProxyError e) {
  const auto reason = reason_of(e);
  return reason ? payment::reason_name(*reason) : "none";
}

int proxy_error_status(ProxyError e) {
  const auto reason = reason_of(e);
  return reason ? payment::reason_status(*reason) : 0;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

ProxyAnswer error_answer(ProxyError e, std::string_view message) {
  ProxyAnswer answer;
  answer.status = proxy_error_status(e);
  if (const auto reason = reason_of(e)) answer.code = *reason;
  answer.close = true;
  const std::string name(proxy_error_name(e));
  answer.body = "{\"error\":";
  append_json_string(answer.body, name);
  answer.body += ",\"message\":";
  append_json_string(answer.body, message);
  answer.body += "}\n";
  answer.headers = {{"Content-Type", "application/json"}, {"X-402flow-Error", name}};
  if (e == ProxyError::proxy_auth_required) {
    answer.headers.push_back({"Proxy-Authenticate", "Basic realm=\"402flow\""});
  }
  return answer;
}

std::string error_response(ProxyError e, std::string_view message, bool close) {
  return serialize_answer(error_answer(e, message),
                          close ? Persistence::close : Persistence::keep_alive);
}

}  // namespace flow::proxy
