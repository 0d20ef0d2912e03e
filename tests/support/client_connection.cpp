#include "support/client_connection.hpp"

namespace flow::testing {

ClientConnection::ClientConnection(std::uint16_t port, Deadline deadline)
    : ClientConnection(connect_loopback(port, deadline)) {}

ClientConnection::ClientConnection(Fd connected)
    : stream_(std::make_unique<SocketStream>(std::move(connected))),
      reader_(std::make_unique<BufferedReader>(*stream_)) {}

void ClientConnection::send(std::string_view raw, Deadline deadline) {
  stream_->write_all(raw, deadline);
}

HttpResponse ClientConnection::read_response(const ResponseReadOptions& options,
                                             Deadline deadline) {
  return flow::testing::read_response(*reader_, deadline, options);
}

HttpResponse ClientConnection::exchange(std::string_view raw, const ResponseReadOptions& options,
                                        Deadline deadline) {
  send(raw, deadline);
  return read_response(options, deadline);
}

bool ClientConnection::wait_for_close(Deadline deadline, std::string* received) {
  try {
    reader_->read_to_eof(
        [&](std::string_view piece) {
          if (received != nullptr) received->append(piece);
        },
        deadline);
    return true;
  } catch (const ConnectionReset&) {
    return true;
  } catch (const TimeoutError&) {
    return false;
  }
}

HttpResponse ClientConnection::open_tunnel(std::string_view authority, Deadline deadline) {
  std::string request = "CONNECT " + std::string(authority) +
                        " HTTP/1.1\r\nHost: " + std::string(authority) + "\r\n\r\n";
  ResponseReadOptions options;
  options.connect_request = true;
  return exchange(request, options, deadline);
}

void ClientConnection::start_tls(const TlsIdentity& trusted, std::string_view host,
                                 Deadline deadline) {
  Fd fd = take_plain_fd();
  stream_ = connect_tls(std::move(fd), trusted, host, deadline);
  reader_ = std::make_unique<BufferedReader>(*stream_);
}

void ClientConnection::start_tls(const std::string& ca_file, std::string_view host,
                                 Deadline deadline) {
  Fd fd = take_plain_fd();
  stream_ = connect_tls(std::move(fd), ca_file, host, deadline);
  reader_ = std::make_unique<BufferedReader>(*stream_);
}

Fd ClientConnection::take_plain_fd() {
  if (reader_->buffered() != 0) throw IoError("bytes arrived before the TLS handshake began");
  auto* plain = dynamic_cast<SocketStream*>(stream_.get());
  if (plain == nullptr) throw IoError("connection is already TLS");
  Fd fd = plain->release_fd();
  reader_.reset();
  return fd;
}

}  // namespace flow::testing
