#pragma once
#include <uv.h>

#include <string>
#include <string_view>

#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/byte_stream.hpp"

namespace flow::proxy {

// How the client wants the connection treated after this response, as its request said.
struct PersistenceWish {
  bool keep_alive = false;  // HTTP/1.1 without "Connection: close", or 1.0 with keep-alive
  bool http11 = true;       // understands 1xx, chunked framing and persistent connections
};

// What an exchange needs of its client, whatever carries it: a plain connection
// (ClientConnection), and next an intercepted TLS session or a tunnel carrying HTTP. The
// exchange writes the response through it, asks it to re-evaluate reading the client, and tells
// it when the exchange has ended; it never sees the socket.
class Downstream {
 public:
  virtual ~Downstream() = default;

  // The client's address for the access log, and the agent the current request speaks for.
  virtual const std::string& peer() const = 0;
  virtual const std::string& agent() const = 0;
  virtual PersistenceWish persistence_wish() const = 0;
  // The origin every request goes to when the client reached it through a tunnel (an
  // intercepted TLS session, or a CONNECT carrying plain HTTP): origin-form request targets
  // ("/path") are sent there. Null for a plain proxy connection (absolute-form targets).
  virtual const Target* fixed_origin() const { return nullptr; }
  // The client was redirected to the transparent listener (it never addressed the proxy).
  virtual bool transparent() const { return false; }

  // Response bytes, in order. Never blocks; a client that reads slowly shows as backlogged.
  // An empty write is a no-op.
  virtual void write(const uv_buf_t* bufs, unsigned count) = 0;
  void write(std::string_view data) {
    const uv_buf_t buf = buffer_of(data);
    write(&buf, 1);
  }
  // The client's write queue is above its high-water mark: stop producing until
  // Exchange::on_client_drained.
  virtual bool write_backlogged() const = 0;

  // Re-evaluate whether to read the client (the exchange's request backlog changed).
  virtual void update_reading() = 0;
  // The client will send nothing more (half-closed, failed or closed).
  virtual bool ended() const = 0;
  // The response is waiting on a client that does not read: bound how long.
  virtual void watch_write_stall(bool stalled) = 0;

  // The response is queued in full (or was aborted); `keep_alive`: the next request may follow.
  // The exchange is destroyed after this returns (on the next loop iteration).
  virtual void exchange_ended(bool keep_alive) = 0;
};

}  // namespace flow::proxy
