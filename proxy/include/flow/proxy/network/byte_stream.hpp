#pragma once
#include <uv.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace flow::proxy {

class ByteStream;

// A libuv buffer over `s`, for the write calls below (libuv's type is not const-correct; a write
// never modifies the bytes).
inline uv_buf_t buffer_of(std::string_view s) {
  return uv_buf_init(const_cast<char*>(s.data()), static_cast<unsigned>(s.size()));
}

// Events of one byte stream. Callbacks never run re-entrantly from a ByteStream method call:
// errors found while writing are reported from the loop, later.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  virtual void on_read(ByteStream& stream, const char* data, std::size_t len) = 0;
  virtual void on_eof(ByteStream& stream) = 0;
  virtual void on_error(ByteStream& stream, int uv_status) = 0;
  // The write queue fell to zero after having been above the high-water mark.
  virtual void on_drained(ByteStream& /*stream*/) {}
  // The stream became usable (TCP connected; for a wrapping stream, its handshake done), or
  // failed to (`uv_status` < 0).
  virtual void on_connected(ByteStream& /*stream*/, int /*uv_status*/) {}
  // A shutdown requested with shutdown_after_writes() has completed (FIN sent).
  virtual void on_shutdown(ByteStream& /*stream*/) {}
};

// An ordered, reliable byte stream on the loop: a TCP socket today, TLS over another stream
// next. Nothing above this interface knows which.
//
// Writes never block and never fail synchronously: what the transport does not take at once
// is copied into the stream's queue, in order. Completion is reported by the queue rather
// than per write: `queued()` counts the bytes not yet handed to the kernel (for a wrapping
// stream: its own backlog plus its inner stream's), `above_high_water()` says the writer should
// stop producing, and `on_drained` fires when the queue falls back to zero after having been
// above the mark. `shutdown_after_writes()` + `on_shutdown` is the completion of "everything I
// wrote has left". A write error arrives as `on_error`, later, from the loop.
//
// A stream that wraps another (TLS over TCP) owns the inner stream, installs itself as the
// inner stream's handler, and forwards each operation in its own terms; its handler sees the
// same events as over TCP.
class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // The handler receives every event from here on; null detaches (events are then dropped).
  virtual void set_handler(StreamHandler* handler) = 0;

  virtual void start_reading() = 0;
  virtual void stop_reading() = 0;
  virtual bool reading() const = 0;

  // Writes the buffers in order: as much as the transport takes now, the rest queued (copied).
  virtual void write(const uv_buf_t* bufs, unsigned count) = 0;
  void write(std::string_view data) {
    const uv_buf_t buf = buffer_of(data);
    write(&buf, 1);  // an empty write is a no-op
  }
  virtual std::size_t queued() const = 0;
  virtual bool above_high_water() const = 0;

  // Ends the sending direction (FIN; for TLS, close_notify) once everything queued is written.
  virtual void shutdown_after_writes() = 0;
  // Drops the handler, discards what is queued and releases the transport now. Safe to call
  // twice; the object stays valid (every operation becomes a no-op) until destroyed.
  virtual void close() = 0;
  virtual bool failed() const = 0;

  // The remote endpoint, "1.2.3.4:5678" or "[::1]:5678"; "-" when unknown.
  virtual std::string peer_name() const = 0;
};

}  // namespace flow::proxy
