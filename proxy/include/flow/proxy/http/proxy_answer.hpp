#pragma once
#include <string>
#include <string_view>

#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/http/reason_field.hpp"

namespace flow::proxy {

// An answer the proxy writes itself (a refusal, a payment answer, a relayed 402 it annotated).
// It is kept apart from its connection framing: whoever writes it decides, from the client's
// persistence wish, whether the connection stays open, and logs its code and body size.
struct ProxyAnswer {
  int status = 0;
  std::string phrase;  // the reason phrase; empty: the standard one for `status`
  HeaderList headers;  // without Content-Length and Connection, which serialize_answer adds
  std::string body;
  ReasonField code;    // its reason (named in X-402flow-Error and the access log); or none
  bool close = false;  // the answer itself ends the connection, whatever the client wished
};

// How the connection continues after the answer.
enum class Persistence {
  close,              // "Connection: close"; the connection closes after the write
  keep_alive,         // HTTP/1.1: persistent by default, nothing to say
  keep_alive_http10,  // an HTTP/1.0 client that asked to keep the connection open
};

// The complete HTTP/1.1 response: status line, headers, Content-Length, Connection, body.
std::string serialize_answer(const ProxyAnswer& answer, Persistence persistence);

}  // namespace flow::proxy
