#pragma once
#include <uv.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace flow::proxy {

class TcpStream;

// Events of one TCP stream. Callbacks never run re-entrantly from a TcpStream method call:
// errors found while writing are reported from the loop, later.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  virtual void on_read(TcpStream& stream, const char* data, std::size_t len) = 0;
  virtual void on_eof(TcpStream& stream) = 0;
  virtual void on_error(TcpStream& stream, int uv_status) = 0;
  // The write queue fell to zero after having been above the high-water mark.
  virtual void on_drained(TcpStream& /*stream*/) {}
  virtual void on_connected(TcpStream& /*stream*/, int /*uv_status*/) {}
  // A shutdown requested with shutdown_after_writes() has completed (FIN sent).
  virtual void on_shutdown(TcpStream& /*stream*/) {}
};

// A libuv TCP handle with a byte-counted write queue. Owned by value; destroying it detaches
// the handler and closes the handle (the libuv part lives until its close callback).
class TcpStream {
 public:
  TcpStream(uv_loop_t* loop, StreamHandler* handler, std::size_t high_water);
  ~TcpStream();
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  void set_handler(StreamHandler* handler);
  uv_stream_t* stream();
  int accept_from(uv_stream_t* server);
  int connect(const sockaddr* addr);

  void start_reading();
  void stop_reading();
  bool reading() const;

  // Writes as much as the kernel takes now and queues (copies) the rest, in order.
  void write(std::string_view data);
  void write(const uv_buf_t* bufs, unsigned count);
  std::size_t queued() const;
  bool above_high_water() const;
  // Sends FIN once everything queued is written.
  void shutdown_after_writes();
  bool failed() const;

  std::string peer_name() const;

 private:
  struct Core;
  Core* core_;  // freed by the close callback
};

}  // namespace flow::proxy
