#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "flow/payment/reason.hpp"
#include "flow/proxy/exchange/downstream.hpp"
#include "flow/proxy/http/http_codec.hpp"
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
class ClientConnection : public Downstream,
                         public StreamHandler,
                         public MessageSink,
                         public Retirable {
 public:
  enum class State {
    idle,          // between requests (keep-alive) or before the first byte
    reading_head,  // part of a request head has arrived
    exchange,      // an Exchange owns the current request/response
    tunnel,        // CONNECT established: bytes are spliced
    closing,       // answer written, FIN sent, draining the peer's last bytes
    closed,
  };

  // `stream` is connected (accepted); the connection becomes its handler.
  ClientConnection(Server& server, std::unique_ptr<ByteStream> stream);
  ~ClientConnection() override;

  void start_accepted();
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
  using Downstream::write;
  void write(const uv_buf_t* bufs, unsigned count) override;
  bool write_backlogged() const override;
  void update_reading() override;
  bool ended() const override;
  void watch_write_stall(bool stalled) override;
  void exchange_ended(bool keep_alive) override;

  // From the Tunnel.
  void tunnel_ended();
  // Answer with a proxy error and close. Only when no response byte was sent yet.
  void fail(payment::Reason error, std::string_view message);
  void close_now();

  // StreamHandler
  void on_read(ByteStream& stream, const char* data, std::size_t len) override;
  void on_eof(ByteStream& stream) override;
  void on_error(ByteStream& stream, int uv_status) override;
  void on_drained(ByteStream& stream) override;
  void on_shutdown(ByteStream& stream) override;

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
  std::unique_ptr<Exchange> exchange_;
  std::unique_ptr<Tunnel> tunnel_;
  std::string peer_;
  std::string agent_;
  Deadline deadline_;
  std::uint64_t requests_ = 0;
};

}  // namespace flow::proxy
