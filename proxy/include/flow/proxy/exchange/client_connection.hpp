#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "flow/payment/reason.hpp"
#include "flow/proxy/exchange/downstream.hpp"
#include "flow/proxy/http/http_codec.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/byte_stream.hpp"
#include "flow/proxy/network/reaper.hpp"
#include "flow/proxy/network/timer.hpp"

namespace flow::proxy {

class Server;
class Exchange;
class Tunnel;

// One accepted client connection over a ByteStream. Reads requests one at a time (pipelined
// requests wait in the input buffer until the exchange before them has ended) and hands each to
// an Exchange, for which it is the Downstream, or turns into a Tunnel after CONNECT.
//
// A CONNECT tunnel may carry HTTP the proxy runs as exchanges (tunnel_opening.cpp): an
// intercepted TLS session (the stream becomes a TlsStream over the accepted one, presenting a
// leaf of the CA) or plain HTTP. The connection then serves origin-form requests for the
// tunnel's origin (fixed_origin), keep-alive and pipelining as usual.
//
// A connection from the transparent listener (start_transparent) is that same opening without a
// CONNECT and without the 200: its original destination stands for the CONNECT's authority.
class ClientConnection : public Downstream,
                         public StreamHandler,
                         public MessageSink,
                         public Retirable {
 public:
  enum class State {
    idle,          // between requests (keep-alive) or before the first byte
    reading_head,  // part of a request head has arrived
    exchange,      // an Exchange owns the current request/response
    opening,       // CONNECT answered by the proxy: waiting for what the tunnel carries
    handshake,     // TLS with an intercepted client in progress
    tunnel,        // CONNECT established: bytes are spliced
    closing,       // answer written, FIN sent, draining the peer's last bytes
    closed,
  };

  // `stream` is connected (accepted); the connection becomes its handler.
  ClientConnection(Server& server, std::unique_ptr<ByteStream> stream);
  ~ClientConnection() override;

  void start_accepted();
  // Transparent mode: a connection iptables REDIRECT sent to the transparent listener, bound for
  // `original_destination` (an IP literal and port). Nothing is written first: the first bytes
  // decide, as in a CONNECT the proxy answered itself, except that any port may be spliced (the
  // kernel chose it, not the client). The connection is always made to that address; the SNI
  // (TLS) or the Host header (plain HTTP) names the origin for policy, URLs and certificates.
  void start_transparent(Target original_destination);
  // A transparent connection that is not served (its destination is the proxy itself, or
  // unknown): logged with `reason`, written to the access log, closed without a byte written.
  void refuse_transparent(Target original_destination, payment::Reason reason,
                          std::string_view detail);
  // Over the connection limit: answer 503 and close.
  void reject(payment::Reason error, std::string_view message);
  void begin_drain();

  State state() const { return state_; }
  ByteStream& stream() { return *stream_; }
  Server& server() { return server_; }

  // Downstream (for the Exchange)
  const std::string& peer() const override { return peer_; }
  // The agent the current request speaks for (identified at its head).
  const std::string& agent() const override { return agent_; }
  PersistenceWish persistence_wish() const override;
  const Target* fixed_origin() const override { return origin_ ? &*origin_ : nullptr; }
  bool transparent() const override { return transparent_; }
  using Downstream::write;
  void write(const uv_buf_t* bufs, unsigned count) override;
  bool write_backlogged() const override;
  void update_reading() override;
  bool ended() const override;
  void watch_write_stall(bool stalled) override;
  void exchange_ended(bool keep_alive) override;

  // From the Tunnel.
  void tunnel_ended();
  // The tunnel to `origin` carries plain HTTP: serve it as exchanges from `bytes` on. A
  // connected `upstream` (the tunnel's) serves the first request through the pool.
  void carry_http(Target origin, std::unique_ptr<ByteStream> upstream, std::string bytes);
  // Answer with a proxy error and close. Only when no response byte was sent yet.
  void fail(payment::Reason error, std::string_view message);
  void close_now();

  // StreamHandler
  void on_read(ByteStream& stream, const char* data, std::size_t len) override;
  void on_eof(ByteStream& stream) override;
  void on_error(ByteStream& stream, int uv_status) override;
  void on_drained(ByteStream& stream) override;
  void on_shutdown(ByteStream& stream) override;
  void on_connected(ByteStream& stream, int status) override;  // the intercepted handshake

  // MessageSink (requests)
  HeadAction on_head() override;
  void on_body(std::string_view data) override;
  void on_message_end() override;

 private:
  void process_input();
  std::size_t step(const char* data, std::size_t len);
  bool parsing_allowed() const;
  void start_exchange();
  void start_tunnel(const char* early, std::size_t early_len);
  // tunnel_opening.cpp: a CONNECT the proxy answers itself, then reads the first bytes of.
  void open_tunnel(Target target);
  void look_into_tunnel();
  void intercept(const std::string& name);
  void splice_opened(std::optional<payment::Reason> refusal);
  void end_opening(payment::Reason reason, std::string_view detail);
  void serve_tunnel_requests();
  // Transparent plain HTTP: the origin takes the current request's Host name (the connection
  // still goes to the original destination's address).
  void name_origin_from_host();
  void parse_error();
  // Answers `error` (closing), writes its access line, and closes after the write.
  void refuse(payment::Reason error, std::string_view message);
  void close_gracefully();
  void on_deadline();
  void arm_idle();

  Server& server_;
  std::unique_ptr<ByteStream> stream_;
  HttpParser parser_;
  State state_ = State::idle;
  std::string input_;           // bytes read but not yet consumed by the parser
  bool parser_paused_ = false;  // stopped after a head or a message
  bool processing_ = false;     // inside process_input (guards re-entry)
  bool client_eof_ = false;
  bool draining_ = false;
  bool transparent_ = false;  // from the transparent listener
  std::unique_ptr<Exchange> exchange_;
  std::unique_ptr<Tunnel> tunnel_;
  std::string peer_;
  std::string agent_;
  Target connect_target_;         // the CONNECT's authority, while opening
  std::optional<Target> origin_;  // the tunnel's origin, once it carries HTTP
  Deadline deadline_;
  std::uint64_t requests_ = 0;
};

}  // namespace flow::proxy
