#pragma once
#include <uv.h>

#include <cstddef>
#include <string>

#include "flow/proxy/network/byte_stream.hpp"

namespace flow::proxy {

// A libuv TCP handle with a byte-counted write queue. Owned by value; destroying it detaches
// the handler and closes the handle (the libuv part lives until its close callback).
// accept_from() and connect() are the only TCP-specific operations: the code that creates the
// socket uses them, everything else holds a ByteStream.
class TcpStream final : public ByteStream {
 public:
  TcpStream(uv_loop_t* loop, StreamHandler* handler, std::size_t high_water);
  ~TcpStream() override;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  int accept_from(uv_stream_t* server);
  // The outcome arrives as on_connected.
  int connect(const sockaddr* addr);
  // The libuv handle (for socket options such as SO_ORIGINAL_DST); null once closed.
  const uv_tcp_t* tcp() const;

  // ByteStream
  void set_handler(StreamHandler* handler) override;
  void start_reading() override;
  void stop_reading() override;
  bool reading() const override;
  using ByteStream::write;
  void write(const uv_buf_t* bufs, unsigned count) override;
  std::size_t queued() const override;
  bool above_high_water() const override;
  void shutdown_after_writes() override;
  void close() override;
  bool failed() const override;
  std::string peer_name() const override;

 private:
  uv_stream_t* stream();

  struct Core;
  Core* core_;  // freed by the close callback; null once closed
};

}  // namespace flow::proxy
