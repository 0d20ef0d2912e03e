// Blocking-with-deadline socket primitives for integration tests: loopback listen/connect, a
// byte-stream interface shared by plain TCP and TLS, and errors that say what went wrong.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace flow::testing {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Generous on purpose: sanitizer builds of the proxy are several times slower.
inline constexpr std::chrono::seconds kDefaultTimeout{20};

inline Deadline deadline_in(Clock::duration d) {
  return Clock::now() + d;
}
inline Deadline default_deadline() {
  return Clock::now() + kDefaultTimeout;
}

struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The peer reset the connection (RST): for "was the connection closed" checks this counts as
// closed.
struct ConnectionReset : IoError {
  using IoError::IoError;
};
struct TimeoutError : IoError {
  using IoError::IoError;
};

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A listening TCP socket on 127.0.0.1 with a kernel-chosen port.
Fd listen_loopback(int backlog = 128);
std::uint16_t local_port(int fd);

// Connects to 127.0.0.1:port; throws IoError (with errno text) on failure or timeout.
Fd connect_loopback(std::uint16_t port, Deadline deadline);

enum class ConnectResult { connected, refused, failed };
// Like connect_loopback but reports refusal instead of throwing; `out` holds the socket on success.
ConnectResult try_connect_loopback(std::uint16_t port, Deadline deadline, Fd& out);

// A port on 127.0.0.1 that was bound and then released, so nothing listens there.
std::uint16_t closed_loopback_port();

// Waits for `events` (POLLIN/POLLOUT) on fd. False when the deadline passed first.
bool wait_for_fd(int fd, short events, Deadline deadline);

void set_nonblocking(int fd);

// A bidirectional byte stream (plain TCP or TLS over TCP).
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Returns the number of bytes read (> 0) or 0 at an orderly end of stream. Throws TimeoutError,
  // ConnectionReset or IoError.
  virtual std::size_t read_some(char* buf, std::size_t n, Deadline deadline) = 0;
  virtual void write_all(std::string_view data, Deadline deadline) = 0;
  virtual void shutdown_write() = 0;
  // Closes the transport abruptly (no TLS close_notify): the peer sees EOF or a reset.
  virtual void abort() = 0;
};

class SocketStream final : public ByteStream {
 public:
  explicit SocketStream(Fd fd);
  std::size_t read_some(char* buf, std::size_t n, Deadline deadline) override;
  void write_all(std::string_view data, Deadline deadline) override;
  void shutdown_write() override;
  void abort() override;
  Fd release_fd() { return std::move(fd_); }

 private:
  Fd fd_;
};

// Writes must not kill the test process when the proxy closes first.
void ignore_sigpipe();

}  // namespace flow::testing
