#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "flow/payment/reason.hpp"
#include "flow/proxy/exchange/access_log.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/byte_stream.hpp"
#include "flow/proxy/network/reaper.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/network/upstream.hpp"

namespace flow::proxy {

class ClientConnection;

// A CONNECT tunnel: blind splice in both directions with backpressure and half-close.
//
// Unless the connection has already looked at what the tunnel carries (`answered`: it answered
// the CONNECT itself, see ClientConnection's opening), the tunnel connects first, answers 200,
// and reads the client's first bytes before sending any on: a tunnel whose first bytes are an
// HTTP request (undici sends http:// targets as CONNECT host:80) is handed back to the
// connection to run as exchanges, paid path included; anything else is spliced.
class Tunnel : public StreamHandler, public Retirable {
 public:
  Tunnel(ClientConnection& client, Target target, std::string early_bytes, bool answered = false);
  ~Tunnel() override;
  void start();

  // Bytes and events from the client side (the ClientConnection forwards them).
  void from_client(const char* data, std::size_t len);
  void client_eof();
  void client_failed();
  void client_drained();
  void client_shutdown_done();
  bool client_backlogged() const;
  void abort(payment::Reason error);

  // StreamHandler (upstream side)
  void on_read(ByteStream& stream, const char* data, std::size_t len) override;
  void on_eof(ByteStream& stream) override;
  void on_error(ByteStream& stream, int uv_status) override;
  void on_drained(ByteStream& stream) override;
  void on_shutdown(ByteStream& stream) override;

 private:
  void connected(Connector::Error error, std::string message, std::unique_ptr<ByteStream> stream);
  void maybe_done();
  void finish(std::optional<payment::Reason> error);
  // Reads the client's first bytes once: true when the tunnel was handed to the connection as
  // HTTP (this object is then retired: touch nothing).
  bool hand_over_http();
  void send_early_bytes();

  ClientConnection& client_;
  Target target_;
  std::string early_bytes_;
  bool answered_;  // the connection answered the CONNECT (and looked at the first bytes)
  bool looked_;    // the client's first bytes were read: splicing
  std::unique_ptr<Connector> connector_;
  std::unique_ptr<ByteStream> upstream_;
  bool established_ = false;
  bool client_eof_ = false;
  bool upstream_eof_ = false;
  bool client_shut_ = false;    // our FIN to the client went out
  bool upstream_shut_ = false;  // our FIN to the origin went out
  bool finished_ = false;
  Deadline idle_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t connect_us_ = 0;
  AccessRecord record_;
};

}  // namespace flow::proxy
