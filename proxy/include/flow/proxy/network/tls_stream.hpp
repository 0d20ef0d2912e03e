#pragma once
#include <openssl/types.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "flow/proxy/network/byte_stream.hpp"
#include "flow/proxy/network/leaf_cache.hpp"
#include "flow/proxy/network/openssl_handles.hpp"

namespace flow::proxy {

class Timer;
class TlsClientContext;

// Accepting an intercepted client: `context` is the server context already chosen for the
// client's SNI (the stream takes its own reference); `initial_bytes` are the bytes already read
// from the client to peek at its ClientHello, fed to TLS before anything else.
struct TlsServerRole {
  SSL_CTX* context = nullptr;
  std::string initial_bytes;
  // Presented instead of the context's own certificate (an intercepted host's leaf); may be null.
  std::shared_ptr<const ServerLeaf> leaf;
};

// Originating to an upstream: SNI `host` (not sent for an IP literal), the certificate checked
// against `host` when `context` verifies, ALPN "http/1.1" offered, sessions resumed through the
// context's cache under "host:port".
struct TlsClientRole {
  std::shared_ptr<TlsClientContext> context;
  std::string host;  // a DNS name or an IP literal (IPv6 with or without brackets)
  std::uint16_t port = 443;
};

// TLS over another ByteStream (usually a TcpStream), on the loop: OpenSSL reads from and writes
// to memory BIOs, and this class moves ciphertext between them and the inner stream. No thread,
// no blocking socket; a peer that stalls mid-handshake costs nothing until bytes arrive (the
// owner's timers bound it).
//
// The handshake starts at construction (the inner stream must be connected). Its outcome is
// on_connected: 0, or a negative status with `handshake_error()` saying why ("certificate verify
// failed: hostname mismatch", "connection closed during the TLS handshake", ...). Writes made
// before then are kept and sent after it. Reads deliver plaintext; the peer's close_notify is
// on_eof, and so is a TCP end without one (`eof_was_clean()` tells them apart). Renegotiation is
// refused. Backpressure: `queued()` is the plaintext kept before the handshake plus the inner
// stream's queue; `high_water` should be the inner stream's own mark.
class TlsStream final : public ByteStream, private StreamHandler {
 public:
  TlsStream(uv_loop_t* loop, std::unique_ptr<ByteStream> inner, TlsServerRole role,
            StreamHandler* handler, std::size_t high_water);
  TlsStream(uv_loop_t* loop, std::unique_ptr<ByteStream> inner, TlsClientRole role,
            StreamHandler* handler, std::size_t high_water);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // ByteStream
  void set_handler(StreamHandler* handler) override;
  void start_reading() override;
  void stop_reading() override;
  bool reading() const override;
  using ByteStream::write;
  void write(const uv_buf_t* bufs, unsigned count) override;
  std::size_t queued() const override;
  bool above_high_water() const override;
  void shutdown_after_writes() override;
  void close() override;
  bool failed() const override;
  std::string peer_name() const override;

  // The session, for logs (never key material).
  bool handshake_done() const { return phase_ == Phase::open; }
  // Why the handshake failed; empty while it has not.
  const std::string& handshake_error() const { return handshake_error_; }
  // Why the stream failed after the handshake (a bad record, an alert); empty otherwise.
  const std::string& failure() const { return failure_; }
  std::string alpn() const;  // the negotiated protocol, "" when none
  bool session_resumed() const;
  std::string peer_subject() const;      // the peer certificate's subject (RFC 2253), "" when none
  std::string protocol_version() const;  // "TLSv1.3", ...
  bool eof_was_clean() const { return peer_closed_; }  // on_eof came from close_notify

 private:
  enum class Phase { handshaking, open };

  TlsStream(uv_loop_t* loop, std::unique_ptr<ByteStream> inner, StreamHandler* handler,
            std::size_t high_water);
  bool set_up(SSL_CTX* context);
  bool set_up_client(const TlsClientRole& role);

  // StreamHandler (the inner stream's events)
  void on_read(ByteStream& stream, const char* data, std::size_t len) override;
  void on_eof(ByteStream& stream) override;
  void on_error(ByteStream& stream, int uv_status) override;
  void on_drained(ByteStream& stream) override;
  void on_shutdown(ByteStream& stream) override;

  enum class Report { now, later };  // later: from a method call, through the loop
  void progress();
  void continue_handshake(Report report);
  void finish_handshake();
  std::string describe_handshake_failure(int ssl_error);
  void read_records();
  void flush_output();
  bool encrypt(const char* data, std::size_t len);
  void send_close_notify();
  void fail(std::string reason, int uv_status, Report report);
  void report_failure();
  void deliver_eof();
  void sync_inner_reading();
  void schedule();
  void run_deferred();
  bool active() const { return !closed_ && !failed_; }

  uv_loop_t* loop_;
  std::shared_ptr<TlsClientContext> client_context_;  // client role; outlives ssl_
  std::string session_key_;                           // client role: "host:port"
  std::unique_ptr<ByteStream> inner_;
  SslPtr ssl_;
  BIO* network_in_ = nullptr;   // ciphertext from the peer, owned by ssl_
  BIO* network_out_ = nullptr;  // ciphertext for the peer, owned by ssl_
  StreamHandler* handler_;
  std::size_t high_water_;
  std::unique_ptr<Timer> deferred_;  // made on first use
  std::shared_ptr<char> alive_ = std::make_shared<char>();

  Phase phase_ = Phase::handshaking;
  std::string early_writes_;  // plaintext written before the handshake completed
  std::string handshake_error_;
  std::string failure_;
  int failure_status_ = 0;
  bool reading_ = false;
  bool closed_ = false;
  bool failed_ = false;
  bool failure_reported_ = false;
  bool connected_reported_ = false;
  bool was_above_high_water_ = false;
  bool inner_eof_ = false;
  bool peer_closed_ = false;  // close_notify received
  bool eof_delivered_ = false;
  bool shutdown_requested_ = false;
  bool close_notify_sent_ = false;
};

}  // namespace flow::proxy
