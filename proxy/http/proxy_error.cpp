#include "flow/proxy/http/proxy_error.hpp"

#include "flow/proxy/http/http_message.hpp"

namespace flow::proxy {

std::string_view proxy_error_name(ProxyError e) {
  switch (e) {
    case ProxyError::none:
      return "none";
    case ProxyError::bad_request:
      return "bad_request";
    case ProxyError::header_too_large:
      return "header_too_large";
    case ProxyError::request_timeout:
      return "request_timeout";
    case ProxyError::connect_port_denied:
      return "connect_port_denied";
    case ProxyError::loop_detected:
      return "loop_detected";
    case ProxyError::not_implemented:
      return "not_implemented";
    case ProxyError::upstream_unreachable:
      return "upstream_unreachable";
    case ProxyError::upstream_timeout:
      return "upstream_timeout";
    case ProxyError::upstream_protocol:
      return "upstream_protocol";
    case ProxyError::too_many_connections:
      return "too_many_connections";
    case ProxyError::client_closed:
      return "client_closed";
    case ProxyError::upstream_closed:
      return "upstream_closed";
    case ProxyError::shutting_down:
      return "shutting_down";
    case ProxyError::proxy_auth_required:
      return "proxy_auth_required";
  }
  return "unknown";
}

int proxy_error_status(ProxyError e) {
  switch (e) {
    case ProxyError::bad_request:
      return 400;
    case ProxyError::header_too_large:
      return 431;
    case ProxyError::request_timeout:
      return 408;
    case ProxyError::connect_port_denied:
      return 403;
    case ProxyError::loop_detected:
      return 508;
    case ProxyError::not_implemented:
      return 501;
    case ProxyError::upstream_unreachable:
    case ProxyError::upstream_protocol:
    case ProxyError::upstream_closed:
      return 502;
    case ProxyError::upstream_timeout:
      return 504;
    case ProxyError::too_many_connections:
    case ProxyError::shutting_down:
      return 503;
    case ProxyError::proxy_auth_required:
      return 407;
    case ProxyError::none:
    case ProxyError::client_closed:
      return 0;
  }
  return 500;
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
  answer.code = std::string(proxy_error_name(e));
  answer.close = true;
  answer.body = "{\"error\":";
  append_json_string(answer.body, answer.code);
  answer.body += ",\"message\":";
  append_json_string(answer.body, message);
  answer.body += "}\n";
  answer.headers = {{"Content-Type", "application/json"}, {"X-402flow-Error", answer.code}};
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
