// A threaded HTTP/1.1 origin server on 127.0.0.1:0 (optionally TLS). A handler sees each parsed
// request (raw head bytes included) and answers with raw bytes, so tests can check exactly what
// the proxy forwarded and can send any framing, malformed data, delays or dropped connections.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/http_wire.hpp"
#include "support/socket_io.hpp"
#include "support/tls_support.hpp"

namespace flow::testing {

// A one-shot signal a test opens to let a waiting origin handler continue.
class Gate {
 public:
  void open();
  // True once open; false when the deadline passed first.
  bool wait(Deadline deadline) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  bool open_ = false;
};

class TestOrigin;

// One request on one origin connection, handed to the handler.
class OriginExchange {
 public:
  const HttpRequest& request() const { return request_; }

  // Reads the whole request body (once) and returns it.
  const std::string& body();
  // Streams the body to `sink` without keeping it.
  void stream_body(const BodySink& sink);

  void send(std::string_view raw);
  // Content-Length framed response.
  void respond(int status, std::string_view body, const Headers& headers = {});
  // Close the connection once the handler returns (no further requests read).
  void close_after() { close_after_ = true; }
  // Close the connection now, with no response (or in the middle of one).
  void drop();
  // Waits for the proxy to end its side of the connection (EOF), consuming nothing else.
  bool wait_for_peer_eof(Deadline deadline);
  // Waits for `gate`; returns false if the deadline passed or the origin is stopping.
  bool wait(const Gate& gate, Deadline deadline) const;
  // Simulates a slow origin; returns early when the origin stops.
  void pause(std::chrono::milliseconds d) const;

 private:
  friend class TestOrigin;
  OriginExchange(TestOrigin& origin, BufferedReader& reader, HttpRequest request,
                 std::size_t record);
  void finish_body();

  TestOrigin& origin_;
  BufferedReader& reader_;
  HttpRequest request_;
  std::size_t record_;
  bool body_read_ = false;
  bool close_after_ = false;
  bool dropped_ = false;
};

using OriginHandler = std::function<void(OriginExchange&)>;

class TestOrigin {
 public:
  explicit TestOrigin(OriginHandler handler, const TlsIdentity* tls = nullptr);
  ~TestOrigin();
  TestOrigin(const TestOrigin&) = delete;
  TestOrigin& operator=(const TestOrigin&) = delete;

  std::uint16_t port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url(std::string_view path) const {
    return "http://" + authority() + std::string(path);
  }

  std::size_t accepted_connections() const { return accepted_.load(); }
  // Requests whose head the origin parsed, in arrival order (bodies filled once read).
  std::vector<HttpRequest> requests() const;
  std::size_t request_count() const;
  bool wait_for_requests(std::size_t n, Deadline deadline) const;
  // Connections whose bytes were not a parseable HTTP request (garbage, truncated heads).
  std::size_t parse_errors() const { return parse_errors_.load(); }
  bool stopping() const { return stopping_.load(); }

  // Stops accepting, unblocks every handler and connection, joins the threads. Idempotent.
  void stop();

 private:
  friend class OriginExchange;
  void accept_loop();
  void serve(Fd fd);
  std::size_t record(const HttpRequest& request);
  void update_record(std::size_t index, const HttpRequest& request);
  void untrack(int watch);

  OriginHandler handler_;
  const TlsIdentity* tls_;
  Fd listener_;
  Fd wake_read_;
  Fd wake_write_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> parse_errors_{0};

  mutable std::mutex mutex_;
  mutable std::condition_variable requests_cv_;
  std::vector<HttpRequest> requests_;
  std::set<int> live_fds_;
  std::vector<std::thread> connection_threads_;
  std::thread acceptor_;
};

}  // namespace flow::testing
