// An origin that speaks no HTTP: it accepts one TCP connection on 127.0.0.1 and hands it to
// `serve` on its own thread (what a spliced tunnel carries: SSH, a line protocol, ...).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "support/socket_io.hpp"

namespace flow::testing {

class RawOrigin {
 public:
  explicit RawOrigin(std::function<void(SocketStream&)> serve);
  ~RawOrigin();  // joins: `serve` must end (a peer EOF or its own deadline)
  RawOrigin(const RawOrigin&) = delete;
  RawOrigin& operator=(const RawOrigin&) = delete;

  std::uint16_t port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  // Everything read until the peer's EOF, for servers that read that way (read_to_eof).
  static std::string read_to_eof(SocketStream& peer, Deadline deadline);

 private:
  Fd listener_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace flow::testing
