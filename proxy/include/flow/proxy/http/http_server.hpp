// A small HTTP/1.1 server on a libuv loop: its listener and keep-alive connections (over a
// TcpStream, or a TlsStream over it), parsed with the proxy's own HttpParser. It serves the
// proxy's local endpoints — `402flow merchant`'s routes and the admin API — never proxied traffic;
// what each request gets is the HttpService's answer.
#pragma once
#include <uv.h>

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/log_writer.hpp"

namespace flow::proxy {

struct ServedRequest {
  const RequestHead& head;
  std::string_view path;   // of an origin-form or absolute-form target, without the query
  std::string_view query;  // after '?', without it; empty when none
  std::string_view host;   // the Host header, or the listener's address when absent
  std::string_view body;   // read in full (at most HttpServerOptions::max_body_bytes)
};

class Responder;

struct ServedAnswer {
  int status = 0;
  bool drop = false;  // close the connection without answering
  std::string content_type = "application/json";
  // Complete header lines ("Name: value\r\n") beyond Content-Type and Content-Length.
  std::string headers;
  std::string body;
  void clear();

  // The handler answers later: the connection parses nothing further (answers stay in order)
  // until the returned responder's respond() runs. The ServedRequest is gone once handle()
  // returns: copy what the answer needs. Loop thread only.
  std::shared_ptr<Responder> defer();
  std::shared_ptr<Responder> deferred;  // set by defer(); read by the server
};

// Completes one deferred answer. Kept by the handler (e.g. in a ledger job's completion) and
// called on the loop; safe after the client went away (the answer is then dropped).
class Responder {
 public:
  virtual ~Responder() = default;
  // Sends `answer` (its status, headers and body; `drop` closes instead). Once; later calls
  // do nothing.
  virtual void respond(const ServedAnswer& answer) = 0;
  // Whether the client connection is still there to answer.
  virtual bool connected() const = 0;
};

// The routes. handle() runs on the loop thread, one request at a time; `answer` arrives cleared.
class HttpService {
 public:
  virtual ~HttpService() = default;
  virtual void handle(const ServedRequest& request, ServedAnswer& answer) = 0;
};

struct HttpServerOptions {
  std::string listen;  // HOST:PORT; the host an IP literal or localhost; port 0 = any
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 64 * 1024;  // a larger request is answered 413 and closed
  std::chrono::milliseconds idle_timeout{60'000};
  std::shared_ptr<SSL_CTX> tls;  // null: plain HTTP
};

// The listener could not be set up; `uv_code` is libuv's error (UV_EADDRINUSE, ...), 0 when the
// address itself is not valid.
class ListenError : public std::runtime_error {
 public:
  ListenError(const std::string& message, int code) : std::runtime_error(message), uv_code(code) {}
  int uv_code;
};

// Loop thread only. Malformed requests are answered 400/431 with {"error": "..."} and closed.
class HttpServer {
 public:
  HttpServer(uv_loop_t* loop, HttpServerOptions options, HttpService& service, Logger& log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; throws ListenError with an operator-facing message on failure.
  void start();
  // "127.0.0.1:4021" with the port actually bound.
  std::string bound_address() const;
  // Closes the listener and every connection at once (no drain: nothing here is worth waiting
  // for); the loop then runs out once the close callbacks have run.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// `{"error":"<message>"}`: the body of every answer that refuses a request.
std::string json_error_body(std::string_view message);

}  // namespace flow::proxy
