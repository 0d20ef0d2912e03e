// A raw HTTP client connection (to the proxy): send any bytes, read responses one at a time with
// deadlines (so pipelined responses can be read in turn), detect closes, and tunnel TLS through
// CONNECT.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "support/http_wire.hpp"
#include "support/socket_io.hpp"
#include "support/tls_support.hpp"

namespace flow::testing {

class ClientConnection {
 public:
  // Connects to 127.0.0.1:port.
  explicit ClientConnection(std::uint16_t port, Deadline deadline = default_deadline());
  explicit ClientConnection(Fd connected);

  void send(std::string_view raw, Deadline deadline = default_deadline());
  HttpResponse read_response(const ResponseReadOptions& options = {},
                             Deadline deadline = default_deadline());
  // send() then read_response().
  HttpResponse exchange(std::string_view raw, const ResponseReadOptions& options = {},
                        Deadline deadline = default_deadline());

  // True when the peer closes (EOF or reset) before the deadline. Bytes that arrive meanwhile
  // are appended to `received` (if given).
  bool wait_for_close(Deadline deadline = default_deadline(), std::string* received = nullptr);
  void shutdown_write() { stream_->shutdown_write(); }

  // Sends "CONNECT authority" and reads the proxy's answer (no body on 2xx).
  HttpResponse open_tunnel(std::string_view authority, Deadline deadline = default_deadline());
  // Runs a TLS handshake over this connection (typically inside a tunnel), trusting `trusted`.
  void start_tls(const TlsIdentity& trusted, std::string_view host,
                 Deadline deadline = default_deadline());
  // The same, trusting the certificates in a PEM file (402flow's CA for an intercepted tunnel).
  void start_tls(const std::string& ca_file, std::string_view host,
                 Deadline deadline = default_deadline());

  BufferedReader& reader() { return *reader_; }

 private:
  Fd take_plain_fd();  // the socket under a plain connection, for a TLS handshake
  std::unique_ptr<ByteStream> stream_;
  std::unique_ptr<BufferedReader> reader_;
};

}  // namespace flow::testing
