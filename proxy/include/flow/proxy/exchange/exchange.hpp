#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flow/payment/reason.hpp"
#include "flow/proxy/exchange/access_log.hpp"
#include "flow/proxy/exchange/downstream.hpp"
#include "flow/proxy/exchange/exchange_hooks.hpp"
#include "flow/proxy/http/http_codec.hpp"
#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/http/proxy_answer.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/byte_stream.hpp"
#include "flow/proxy/network/reaper.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/network/upstream.hpp"

namespace flow::proxy {

class Server;

// One request and its response, forwarded: it reads, forwards and streams, and at named stages
// hands control to its ExchangeHooks (the paid path), which may answer, take over a response,
// replay the request with extra headers, hold a response head, or park the exchange. It holds
// no payment state. finish() is the single place where an exchange ends: it always runs the
// hooks' on_end, writes the access log, counts, returns or closes the upstream connection and
// tells the Downstream what comes next. It reaches its client only through the Downstream and
// its origin only through a ByteStream.
class Exchange : public StreamHandler, public MessageSink, public Retirable {
 public:
  enum class Stage {
    connecting,          // waiting for an upstream connection (pool, DNS, TCP)
    awaiting_response,   // request head sent; body streaming; no response head yet
    streaming_response,  // response head sent to the client; body streaming
    done,
  };

  // `request_parser` holds the request head just parsed (its headers are moved out).
  Exchange(Server& server, Downstream& client, HttpParser& request_parser);
  ~Exchange() override;

  // Validates the target and starts connecting. May end the exchange at once (bad target).
  void start();

  // Request body from the client, in order.
  void on_request_body(std::string_view data);
  void on_request_end();
  // The request turned out malformed after its head (a bad chunk): refuse it.
  void on_request_malformed(payment::Reason error, std::string_view message);
  // The client closed or failed: the exchange is abandoned.
  void on_client_gone(bool eof_only);
  // The client's write queue drained: upstream reading may resume.
  void on_client_drained();
  // Whether the client should stop reading (the upstream write queue is over its mark).
  bool request_backlogged() const;
  bool request_complete() const { return request_done_; }
  // The client's EOF ends this exchange now (its hooks say so: it waits for a person).
  bool ends_on_client_eof() const { return hooks_ != nullptr && hooks_->ends_on_client_eof(); }
  Stage stage() const { return stage_; }

  // StreamHandler (upstream)
  void on_read(ByteStream& stream, const char* data, std::size_t len) override;
  void on_eof(ByteStream& stream) override;
  void on_error(ByteStream& stream, int uv_status) override;
  void on_drained(ByteStream& stream) override;

  // MessageSink (upstream response)
  HeadAction on_head() override;
  void on_body(std::string_view data) override;
  void on_message_end() override;

  // --- for the hooks (ExchangeHooks) ---
  Server& server() { return server_; }
  Downstream& downstream() { return client_; }
  const RequestHead& request() const { return request_; }
  const Target& target() const { return target_; }
  // The request's URL as the ledger and policy see it: the absolute-form target as the agent
  // sent it, or, inside a tunnel, the tunnel's origin followed by the origin-form target
  // ("https://api.example.com/v1/x").
  std::string url() const;
  AccessRecord& record() { return record_; }
  std::uint64_t elapsed_us() const;
  // Writes an answer the proxy made itself and ends the exchange.
  void answer(const ProxyAnswer& answer);
  // Ends the exchange with a proxy error, answered when nothing was sent to the client yet.
  void fail(payment::Reason error, std::string_view message);
  // Relays a response head (with `extra` headers) and body bytes the hooks read themselves;
  // `reason` (the X-402flow-Error the extra headers name, if any) goes to the access log.
  void relay_head(ResponseHead& head, const HeaderList& extra, ReasonField reason);
  void relay_body(std::string_view data);
  // After a taken-over response: the request body is still arriving; keep reading it.
  void wait_for_request_body();
  // Sends the request again, built from the parsed request with `extra` headers added (never by
  // editing bytes), with `body` (framed as the original), on an upstream connection. A replay
  // is never retried on a fresh connection by the transport.
  void replay_with(const HeaderList& extra, std::string body);
  // The held response head goes to the client with `extra` headers; the rest follows.
  void release_held_head(ResponseHead& head, const HeaderList& extra, ReasonField reason);
  // The origin connection is closed, never reused.
  void drop_upstream();
  void close_client_after() { close_client_after_ = true; }
  // A parked exchange waits (for a human, a rail, the ledger) with no transport timer running;
  // unpark() re-arms them.
  void park();
  void unpark();
  bool parked() const { return parked_; }

 private:
  bool resolve_target();
  void acquire_upstream();
  void connected(Connector::Error error, std::string message, std::unique_ptr<ByteStream> stream);
  void attach(std::unique_ptr<UpstreamConnection> upstream);
  void send_request_head();
  void response_complete();
  // Writes an answer the proxy made itself, honouring the client's wish to keep the connection
  // (Connection: close, HTTP/1.0 without keep-alive) and noting its code and size for the log.
  void write_own_answer(const ProxyAnswer& answer);
  void finish(std::optional<payment::Reason> error);
  void on_upstream_deadline();
  void feed_response(const char* data, std::size_t len);
  void upstream_closed_early(std::string_view why);
  void send_upstream(const uv_buf_t* bufs, unsigned count);
  void write_client_body(std::string_view data);
  void write_response_head(ResponseHead& head, const HeaderList& extra, ReasonField reason = {});
  void give_back_upstream();
  void resume_held_response();
  bool retry_on_fresh_connection();

  Downstream& client_;
  Server& server_;
  std::unique_ptr<ExchangeHooks> hooks_;  // null: plain forwarding
  RequestHead request_;                   // as received from the client
  RequestHead upstream_request_;  // as sent upstream (hop-by-hop and control headers removed)
  Target target_;
  bool request_chunked_ = false;
  std::optional<std::uint64_t> request_length_;
  bool client_keep_alive_ = false;
  bool client_http11_ = true;
  bool expect_continue_ = false;

  Stage stage_ = Stage::connecting;
  std::unique_ptr<Connector> connector_;
  std::unique_ptr<UpstreamConnection> upstream_;
  std::string upstream_head_;  // serialized request head (kept for one retry on a stale pool hit)
  bool replaying_ = false;     // the request went again, with the hooks' extra headers
  bool request_done_ = false;
  bool response_done_ = false;
  bool response_started_ = false;  // a final response head went to the client
  bool upstream_reusable_ = true;
  bool got_upstream_bytes_ = false;
  bool retried_ = false;
  bool interim_ = false;  // the response being parsed is a 1xx
  bool taken_ = false;    // the hooks read this response themselves
  bool parked_ = false;
  std::optional<payment::Reason> deferred_error_;  // found inside a parser callback
  std::string pending_body_;  // framed request body that arrived before the upstream was ready
  const HeaderList* request_trailers_ = nullptr;

  enum class Framing { none, length, chunked, close };
  Framing client_framing_ = Framing::none;
  bool close_client_after_ = false;
  int response_status_ = 0;

  Deadline upstream_deadline_;
  std::string held_bytes_;  // origin bytes that followed a held response head
  std::uint64_t start_ns_ = 0;
  AccessRecord record_;
};

}  // namespace flow::proxy
