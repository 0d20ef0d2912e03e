#include "support/raw_origin.hpp"

#include <poll.h>
#include <sys/socket.h>

namespace flow::testing {

RawOrigin::RawOrigin(std::function<void(SocketStream&)> serve)
    : listener_(listen_loopback()), port_(local_port(listener_.get())) {
  thread_ = std::thread([this, serve = std::move(serve)] {
    // Bounded: a test that never connects must not hang the destructor.
    if (!wait_for_fd(listener_.get(), POLLIN, default_deadline())) return;
    SocketStream peer(Fd(::accept(listener_.get(), nullptr, nullptr)));
    try {
      serve(peer);
    } catch (const IoError&) {
      // The test's checks say what went wrong; the thread just ends.
    }
  });
}

RawOrigin::~RawOrigin() {
  if (thread_.joinable()) thread_.join();
}

std::string RawOrigin::read_to_eof(SocketStream& peer, Deadline deadline) {
  std::string out;
  char buf[4096];
  while (const std::size_t n = peer.read_some(buf, sizeof buf, deadline)) out.append(buf, n);
  return out;
}

}  // namespace flow::testing
