#include "flow/proxy/http/proxy_error.hpp"

#include "flow/proxy/http/http_message.hpp"

namespace flow::proxy {

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

ProxyAnswer error_answer(payment::Reason reason, std::string_view message) {
  ProxyAnswer answer;
  answer.status = payment::reason_status(reason);
  answer.code = reason;
  answer.close = true;
  const std::string name(payment::reason_name(reason));
  answer.body = "{\"error\":";
  append_json_string(answer.body, name);
  answer.body += ",\"message\":";
  append_json_string(answer.body, message);
  answer.body += "}\n";
  answer.headers = {{"Content-Type", "application/json"}, {"X-402flow-Error", name}};
  if (reason == payment::Reason::proxy_auth_required) {
    answer.headers.push_back({"Proxy-Authenticate", "Basic realm=\"402flow\""});
  }
  return answer;
}

std::string error_response(payment::Reason reason, std::string_view message, bool close) {
  return serialize_answer(error_answer(reason, message),
                          close ? Persistence::close : Persistence::keep_alive);
}

}  // namespace flow::proxy
