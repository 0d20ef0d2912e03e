#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flow/payment/payment_rail.hpp"
#include "flow/proxy/exchange/access_log.hpp"
#include "flow/proxy/exchange/downstream.hpp"
#include "flow/proxy/http/http_codec.hpp"
#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/http/proxy_answer.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/byte_stream.hpp"
#include "flow/proxy/network/reaper.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/network/upstream.hpp"
#include "flow/storage/ledger_writer.hpp"

namespace flow::proxy {

class Server;
class PaymentServices;
struct DecideOutcome;

// One request and its response (and, later, its 402 retry) — the governed lifecycle of
// DESIGN.md as named stages. finish() is the single place where an exchange ends: it always
// writes the access log, counts, returns or closes the upstream connection and tells the
// Downstream what comes next. It reaches its client only through the Downstream and its origin
// only through a ByteStream.
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
  void on_request_malformed(ProxyError error, std::string_view message);
  // The client closed or failed: the exchange is abandoned.
  void on_client_gone(bool eof_only);
  // The client's write queue drained: upstream reading may resume.
  void on_client_drained();
  // Whether the client should stop reading (the upstream write queue is over its mark).
  bool request_backlogged() const;
  bool request_complete() const { return request_done_; }
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

  // Where the paid path is (exchange_payment.cpp). A held-for-approval or intercepted-TLS
  // exchange will enter the same stages.
  enum class PayStage {
    none,               // not a payment (yet)
    reading_challenge,  // the origin answered 402: its body is read, nothing goes to the agent
    waiting_request,    // the challenge is read; the agent's request body is still arriving
    deciding,           // policy, reservation and signature run on the ledger's writer
    retrying,           // the credential has left the proxy; no answer yet
    recording,          // the merchant answered the paid retry; its head waits for the receipt
    answered,           // the paid retry's answer is being relayed to the agent
  };
  // Outlives the exchange: ledger completions find it null once the exchange has ended.
  struct PaymentToken {
    Exchange* exchange = nullptr;
  };

 private:
  // --- the paid path (exchange_payment.cpp) ---
  struct Controls {
    bool prepare = false;         // X-402flow-Mode: prepare
    std::string prepared_id;      // X-402flow-Prepared
    std::string max_amount;       // X-402flow-Max-Amount
    std::string idempotency_key;  // Idempotency-Key (forwarded: it means the same to the merchant)
  };
  bool payments_enabled() const;
  // The agent's X-402flow-* headers; false when they were refused (answered 400).
  bool read_controls();
  HeadAction start_reading_challenge();
  void on_challenge_body(std::string_view data);
  void challenge_complete();
  void begin_payment();
  void relay_challenge(std::string_view code, std::string_view detail);
  void answer(ProxyAnswer response, int status);
  void on_decided(DecideOutcome outcome);
  void answer_existing(const DecideOutcome& outcome);
  void resend_credential(std::size_t accepts_index, std::int64_t attempt_id,
                         const std::string& credential_ref);
  void send_paid_retry();
  HeadAction on_paid_head();
  void on_finalized(std::string receipt_id, bool recorded);
  void paid_without_answer(ProxyError error, std::string_view message);
  void abandon_payment();
  void keep_for_replay(const uv_buf_t* bufs, unsigned count);
  void write_response_head(ResponseHead& head, const HeaderList& extra);
  void resume_held_response();
  HeaderList receipt_headers(std::string_view receipt_id, bool settled) const;
  storage::Result<void> record_outcome(storage::Outcome outcome,
                                       storage::LedgerWriter::Done<storage::Receipt> done);

  PayStage pay_ = PayStage::none;
  Controls controls_;
  std::string agent_;
  std::shared_ptr<PaymentToken> pay_token_;
  std::string replay_body_;         // the framed request body as sent upstream, for the paid retry
  bool keeps_replay_copy_ = false;  // a 402 on this request could be paid
  bool replayable_ = true;
  ResponseHead challenge_head_;
  std::string challenge_body_;
  std::shared_ptr<const payment::RailChallenge> challenge_;  // shared with the ledger job
  std::vector<std::size_t> candidate_accepts_;  // policy's offer i is challenge_->offers()[...]
  std::int64_t attempt_id_ = 0;
  bool attempt_was_signed_ = false;  // this is a resend of an existing attempt's credential
  bool settled_ = false;             // the merchant's answer settled the payment
  payment::Offer paid_offer_;
  std::string paid_symbol_;
  unsigned paid_decimals_ = 0;
  std::string credential_name_;
  std::string credential_value_;
  std::string paid_head_;   // request head with the credential
  ResponseHead held_head_;  // the paid answer's head while the receipt is written
  HeaderList held_extra_;
  std::string held_bytes_;  // origin bytes that followed the held head
  Deadline challenge_deadline_;

  void acquire_upstream();
  void connected(ProxyError error, std::string message, std::unique_ptr<ByteStream> stream);
  void attach(std::unique_ptr<UpstreamConnection> upstream);
  void send_request_head();
  void upstream_failed(ProxyError error, std::string_view message);
  void response_complete();
  void fail(ProxyError error, std::string_view message);
  // Writes an answer the proxy made itself, honouring the client's wish to keep the connection
  // (Connection: close, HTTP/1.0 without keep-alive) and noting its code and size for the log.
  void write_own_answer(const ProxyAnswer& answer);
  void finish(ProxyError error);
  void on_upstream_deadline();
  void feed_response(const char* data, std::size_t len);
  void upstream_closed_early(std::string_view why);
  void send_upstream(const uv_buf_t* bufs, unsigned count);
  void write_client_body(std::string_view data);
  bool retry_on_fresh_connection();
  std::uint64_t elapsed_us() const;

  Downstream& client_;
  Server& server_;
  RequestHead request_;  // as received from the client
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
  bool request_done_ = false;
  bool response_done_ = false;
  bool response_started_ = false;  // a final response head went to the client
  bool upstream_reusable_ = true;
  bool got_upstream_bytes_ = false;
  bool retried_ = false;
  bool interim_ = false;                          // the response being parsed is a 1xx
  ProxyError deferred_error_ = ProxyError::none;  // found inside a parser callback
  std::string pending_body_;  // framed request body that arrived before the upstream was ready
  const HeaderList* request_trailers_ = nullptr;

  enum class Framing { none, length, chunked, close };
  Framing client_framing_ = Framing::none;
  bool close_client_after_ = false;
  int response_status_ = 0;

  Deadline upstream_deadline_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t pay_started_ns_ = 0;
  AccessRecord record_;
};

std::string_view pay_stage_name(Exchange::PayStage stage);

// Crash tests: when FLOW402_TEST_STOP_AT names `stage`, the process stops itself (SIGSTOP) there,
// so a test can SIGKILL it at exactly that point: reserved (reserved and signed, the commit not
// yet made), signed (committed, nothing sent), sent (the paid retry written to the merchant),
// answered (the merchant's answer read, its outcome not yet recorded). Compiled only into test
// builds (FLOW_TEST_HOOKS); elsewhere it does nothing and reads no environment.
#ifdef FLOW_TEST_HOOKS
void stop_here_for_test(std::string_view stage);
#else
inline void stop_here_for_test(std::string_view /*stage*/) {}
#endif

}  // namespace flow::proxy
