#include "support/socket_io.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

namespace flow::testing {
namespace {

std::string errno_text(std::string_view what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

int poll_timeout_ms(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  // Round up so a sub-millisecond remainder still waits instead of spinning.
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count() + 1, 0, 60'000));
}

}  // namespace

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw IoError(errno_text("fcntl(O_NONBLOCK)", errno));
  }
}

Fd listen_loopback(int backlog) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw IoError(errno_text("socket", errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = loopback_address(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw IoError(errno_text("bind 127.0.0.1:0", errno));
  }
  if (::listen(fd.get(), backlog) != 0) throw IoError(errno_text("listen", errno));
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw IoError(errno_text("getsockname", errno));
  }
  return ntohs(addr.sin_port);
}

ConnectResult try_connect_loopback(std::uint16_t port, Deadline deadline, Fd& out) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw IoError(errno_text("socket", errno));
  sockaddr_in addr = loopback_address(port);
  int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno != EINPROGRESS) {
    return errno == ECONNREFUSED ? ConnectResult::refused : ConnectResult::failed;
  }
  if (rc != 0) {
    if (!wait_for_fd(fd.get(), POLLOUT, deadline)) return ConnectResult::failed;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == ECONNREFUSED) return ConnectResult::refused;
    if (err != 0) return ConnectResult::failed;
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  out = std::move(fd);
  return ConnectResult::connected;
}

Fd connect_loopback(std::uint16_t port, Deadline deadline) {
  Fd fd;
  switch (try_connect_loopback(port, deadline, fd)) {
    case ConnectResult::connected:
      return fd;
    case ConnectResult::refused:
      throw IoError("connect 127.0.0.1:" + std::to_string(port) + ": connection refused");
    case ConnectResult::failed:
      break;
  }
  throw IoError("connect 127.0.0.1:" + std::to_string(port) + " failed or timed out");
}

std::uint16_t closed_loopback_port() {
  Fd fd = listen_loopback();
  return local_port(fd.get());  // fd closes here: the port is free and nothing listens
}

bool wait_for_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int timeout = poll_timeout_ms(deadline);
    int rc = ::poll(&p, 1, timeout);
    if (rc > 0) return true;  // ready, or an error/hangup that the next syscall reports
    if (rc < 0 && errno != EINTR) throw IoError(errno_text("poll", errno));
    if (Clock::now() >= deadline) return false;
  }
}

SocketStream::SocketStream(Fd fd) : fd_(std::move(fd)) {
  ignore_sigpipe();
  set_nonblocking(fd_.get());
}

std::size_t SocketStream::read_some(char* buf, std::size_t n, Deadline deadline) {
  for (;;) {
    ssize_t got = ::recv(fd_.get(), buf, n, 0);
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) throw ConnectionReset("connection reset by peer");
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw IoError(errno_text("recv", errno));
    if (!wait_for_fd(fd_.get(), POLLIN, deadline)) throw TimeoutError("timed out reading");
  }
}

void SocketStream::write_all(std::string_view data, Deadline deadline) {
  while (!data.empty()) {
    ssize_t put = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (put > 0) {
      data.remove_prefix(static_cast<std::size_t>(put));
      continue;
    }
    if (put < 0 && errno == EINTR) continue;
    if (put < 0 && errno == ECONNRESET) throw ConnectionReset("connection reset by peer");
    if (put < 0 && errno == EPIPE) throw ConnectionReset("broken pipe: peer closed");
    if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      throw IoError(errno_text("send", errno));
    }
    if (!wait_for_fd(fd_.get(), POLLOUT, deadline)) throw TimeoutError("timed out writing");
  }
}

void SocketStream::shutdown_write() {
  ::shutdown(fd_.get(), SHUT_WR);
}

void SocketStream::abort() {
  ::shutdown(fd_.get(), SHUT_RDWR);
}

}  // namespace flow::testing
