#include "flow/proxy/network/tcp_stream.hpp"

#include <array>
#include <memory>
#include <utility>
#include <vector>

#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/network/net_address.hpp"

namespace flow::proxy {

namespace {
// One read buffer for the whole loop: data is consumed (forwarded or copied) inside the read
// callback, so nothing refers to it afterwards. Keeps idle connections free of buffers.
constexpr std::size_t kReadBufferSize = 64 * 1024;
std::array<char, kReadBufferSize>& shared_read_buffer() {
  thread_local std::array<char, kReadBufferSize> buffer;
  return buffer;
}
}  // namespace

struct TcpStream::Core {
  uv_tcp_t tcp{};
  StreamHandler* handler = nullptr;
  TcpStream* owner = nullptr;
  std::size_t high_water = 0;
  std::size_t queued = 0;
  bool was_above_high_water = false;
  bool reading = false;
  bool failed = false;
  bool closing = false;
  bool shutdown_requested = false;
  uv_connect_t connect_req{};
  uv_shutdown_t shutdown_req{};
  bool shutdown_started = false;

  struct WriteReq {
    uv_write_t req{};
    Core* core = nullptr;
    std::string data;
  };

  void maybe_shutdown() {
    if (!shutdown_requested || shutdown_started || queued > 0 || closing) return;
    shutdown_started = true;
    shutdown_req.data = this;
    const int rc = uv_shutdown(&shutdown_req, reinterpret_cast<uv_stream_t*>(&tcp),
                               [](uv_shutdown_t* req, int /*status*/) {
                                 auto* core = static_cast<Core*>(req->data);
                                 if (core->handler && core->owner) {
                                   core->handler->on_shutdown(*core->owner);
                                 }
                               });
    if (rc != 0) shutdown_started = false;
  }

  static void on_write(uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
    Core* core = w->core;
    core->queued -= w->data.size();
    if (status < 0) {
      if (!core->failed && !core->closing) {
        core->failed = true;
        if (core->handler && core->owner) core->handler->on_error(*core->owner, status);
      }
      return;
    }
    if (core->queued == 0) {
      if (core->was_above_high_water) {
        core->was_above_high_water = false;
        if (core->handler && core->owner) core->handler->on_drained(*core->owner);
      }
      core->maybe_shutdown();
    }
  }

  void enqueue(const uv_buf_t* bufs, unsigned count, std::size_t skip) {
    auto w = std::make_unique<WriteReq>();
    w->core = this;
    for (unsigned i = 0; i < count; ++i) {
      std::size_t len = bufs[i].len;
      const char* base = bufs[i].base;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      w->data.append(base + skip, len - skip);
      skip = 0;
    }
    if (w->data.empty()) return;
    queued += w->data.size();
    if (queued > high_water) was_above_high_water = true;
    w->req.data = w.get();
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1, &on_write);
    if (rc == 0) {
      w.release();  // owned by libuv until on_write
    } else {
      queued -= w->data.size();
      failed = true;
    }
  }
};

TcpStream::TcpStream(uv_loop_t* loop, StreamHandler* handler, std::size_t high_water) {
  auto core = std::make_unique<Core>();
  core->handler = handler;
  core->owner = this;
  core->high_water = high_water;
  uv_tcp_init(loop, &core->tcp);
  core->tcp.data = core.get();
  core_ = core.release();  // owned by libuv from here: freed in the close callback
}

TcpStream::~TcpStream() {
  close();
}

void TcpStream::close() {
  if (core_ == nullptr) return;
  core_->handler = nullptr;
  core_->owner = nullptr;
  core_->closing = true;
  core_->reading = false;
  auto* handle = reinterpret_cast<uv_handle_t*>(&core_->tcp);
  close_handle(handle, std::unique_ptr<Core>(std::exchange(core_, nullptr)));
}

void TcpStream::set_handler(StreamHandler* handler) {
  if (core_) core_->handler = handler;
}

uv_stream_t* TcpStream::stream() {
  return reinterpret_cast<uv_stream_t*>(&core_->tcp);
}

const uv_tcp_t* TcpStream::tcp() const {
  return core_ == nullptr ? nullptr : &core_->tcp;
}

int TcpStream::accept_from(uv_stream_t* server) {
  if (core_ == nullptr) return UV_EBADF;
  const int rc = uv_accept(server, stream());
  if (rc == 0) uv_tcp_nodelay(&core_->tcp, 1);
  return rc;
}

int TcpStream::connect(const sockaddr* addr) {
  if (core_ == nullptr) return UV_EBADF;
  core_->connect_req.data = core_;
  const int rc =
      uv_tcp_connect(&core_->connect_req, &core_->tcp, addr, [](uv_connect_t* req, int status) {
        auto* core = static_cast<Core*>(req->data);
        if (status == 0) uv_tcp_nodelay(&core->tcp, 1);
        if (core->handler && core->owner && !core->closing)
          core->handler->on_connected(*core->owner, status);
      });
  return rc;
}

void TcpStream::start_reading() {
  if (core_ == nullptr || core_->reading || core_->closing) return;
  const int rc = uv_read_start(
      stream(),
      [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
        auto& b = shared_read_buffer();
        *buf = uv_buf_init(b.data(), static_cast<unsigned>(b.size()));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* core = static_cast<Core*>(s->data);
        if (core->handler == nullptr || core->owner == nullptr) return;
        if (nread > 0) {
          core->handler->on_read(*core->owner, buf->base, static_cast<std::size_t>(nread));
        } else if (nread == UV_EOF) {
          core->reading = false;
          uv_read_stop(s);
          core->handler->on_eof(*core->owner);
        } else if (nread < 0) {
          core->reading = false;
          core->failed = true;
          uv_read_stop(s);
          core->handler->on_error(*core->owner, static_cast<int>(nread));
        }
      });
  core_->reading = rc == 0;
}

void TcpStream::stop_reading() {
  if (core_ == nullptr || !core_->reading) return;
  uv_read_stop(stream());
  core_->reading = false;
}

bool TcpStream::reading() const {
  return core_ != nullptr && core_->reading;
}

void TcpStream::write(const uv_buf_t* bufs, unsigned count) {
  if (core_ == nullptr || core_->closing || core_->failed) return;
  std::size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  if (total == 0) return;
  std::size_t written = 0;
  if (core_->queued == 0) {
    // Nothing queued: write straight from the caller's buffer and copy only what is left.
    const int rc = uv_try_write(stream(), bufs, count);
    if (rc > 0) written = static_cast<std::size_t>(rc);
    // Any other error than EAGAIN is reported by the queued write's callback, asynchronously.
  }
  if (written < total) core_->enqueue(bufs, count, written);
}

std::size_t TcpStream::queued() const {
  return core_ ? core_->queued : 0;
}

bool TcpStream::above_high_water() const {
  return core_ != nullptr && core_->queued > core_->high_water;
}

void TcpStream::shutdown_after_writes() {
  if (core_ == nullptr) return;
  core_->shutdown_requested = true;
  core_->maybe_shutdown();
}

bool TcpStream::failed() const {
  return core_ == nullptr || core_->failed;
}

std::string TcpStream::peer_name() const {
  if (core_ == nullptr) return "-";
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&core_->tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "-";
  return format_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace flow::proxy
