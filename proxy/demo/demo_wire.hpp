#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace flow::proxy {

// Reads up to `n` bytes into `buf`: > 0 bytes read, 0 at the end, < 0 on error or timeout.
using ReadSome = std::function<long(char* buf, std::size_t n)>;

// A blocking TCP connection to the proxy on 127.0.0.1 with 20 s send and receive timeouts; -1
// when it cannot connect.
int connect_proxy(int proxy_port);

// The value of header `name` (lower case) in an answer's head; empty when absent.
std::string header_value(const std::string& response, const std::string& name);

// Reads one HTTP answer by its framing (Content-Length or chunked), so an answer on a
// connection that stays open is complete as soon as its last byte arrives; only an answer
// framed by the end of the connection is read to EOF.
std::string read_answer(const ReadSome& read);
// Reads an answer's head only (through the empty line): a CONNECT's 200 has no body, and what
// follows belongs to the tunnel.
std::string read_head(const ReadSome& read);

}  // namespace flow::proxy
