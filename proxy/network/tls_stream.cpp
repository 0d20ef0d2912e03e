#include "flow/proxy/network/tls_stream.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/network/tls_context.hpp"

namespace flow::proxy {

namespace {

// One TLS record's worth of plaintext: what one SSL_read returns at most, and the unit writes
// are encrypted in (so the outgoing memory BIO never holds much more than a record).
constexpr std::size_t kRecordSize = 16 * 1024;

// Buffers shared by every stream on the thread: data is handed on within the call that filled
// them (a decrypted record to the handler, ciphertext to the inner stream, which copies what it
// cannot write at once).
std::array<char, kRecordSize>& plaintext_buffer() {
  thread_local std::array<char, kRecordSize> buffer;
  return buffer;
}
std::array<char, 64 * 1024>& ciphertext_buffer() {
  thread_local std::array<char, 64 * 1024> buffer;
  return buffer;
}

bool is_ip_literal(const std::string& host) {
  unsigned char addr[16];
  return inet_pton(AF_INET, host.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

std::string without_brackets(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// The reason of the oldest queued OpenSSL error ("wrong version number", "sslv3 alert handshake
// failure", ...); the queue is cleared.
std::string openssl_reason() {
  std::string reason;
  if (const unsigned long code = ERR_peek_error(); code != 0) {
    if (const char* text = ERR_reason_error_string(code); text != nullptr) {
      reason = text;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof buf);
      reason = buf;
    }
  }
  ERR_clear_error();
  return reason;
}

}  // namespace

TlsStream::TlsStream(uv_loop_t* loop, std::unique_ptr<ByteStream> inner, StreamHandler* handler,
                     std::size_t high_water)
    : loop_(loop), inner_(std::move(inner)), handler_(handler), high_water_(high_water) {
  inner_->set_handler(this);
}

TlsStream::TlsStream(uv_loop_t* loop, std::unique_ptr<ByteStream> inner, TlsServerRole role,
                     StreamHandler* handler, std::size_t high_water)
    : TlsStream(loop, std::move(inner), handler, high_water) {
  if (!set_up(role.context)) return;
  if (role.leaf && !role.leaf->install(ssl_.get())) {
    fail("cannot present the certificate for " + role.leaf->name, UV_EPROTO, Report::later);
    return;
  }
  SSL_set_accept_state(ssl_.get());
  if (!role.initial_bytes.empty()) {
    BIO_write(network_in_, role.initial_bytes.data(), static_cast<int>(role.initial_bytes.size()));
  }
  continue_handshake(Report::later);
  sync_inner_reading();
}

TlsStream::TlsStream(uv_loop_t* loop, std::unique_ptr<ByteStream> inner, TlsClientRole role,
                     StreamHandler* handler, std::size_t high_water)
    : TlsStream(loop, std::move(inner), handler, high_water) {
  client_context_ = std::move(role.context);
  if (!client_context_ || !set_up(client_context_->native()) || !set_up_client(role)) return;
  continue_handshake(Report::later);
  sync_inner_reading();
}

TlsStream::~TlsStream() {
  close();
}

// The SSL object and its memory BIOs.
bool TlsStream::set_up(SSL_CTX* context) {
  ERR_clear_error();
  if (context != nullptr) ssl_.reset(SSL_new(context));
  network_in_ = BIO_new(BIO_s_mem());
  network_out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || network_in_ == nullptr || network_out_ == nullptr) {
    BIO_free(network_in_);
    BIO_free(network_out_);
    network_in_ = network_out_ = nullptr;
    ssl_.reset();
    fail("cannot set up TLS: " + openssl_reason(), UV_ENOMEM, Report::later);
    return false;
  }
  SSL_set_bio(ssl_.get(), network_in_, network_out_);  // ssl_ owns both from here
  SSL_set_options(ssl_.get(), SSL_OP_NO_RENEGOTIATION);
  // Idle sessions give their record buffers back (many kept-alive connections).
  SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
  return true;
}

// SNI, the host name check, ALPN and the cached session of a client.
bool TlsStream::set_up_client(const TlsClientRole& role) {
  SSL* ssl = ssl_.get();
  SSL_set_connect_state(ssl);
  const std::string host = without_brackets(role.host);
  const bool ip = is_ip_literal(host);
  bool ok = true;
  if (!ip) {
    // SSL_set_tlsext_host_name() is a macro with a C-style cast; this is its expansion.
    ok = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(host.c_str())) == 1;
  }
  if (ok && client_context_->verifies()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1
            : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) == 1;
  }
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (ok) ok = SSL_set_alpn_protos(ssl, kHttp11, sizeof kHttp11) == 0;  // 0 is success here
  if (!ok) {
    fail("cannot set up TLS for " + host + ": " + openssl_reason(), UV_EINVAL, Report::later);
    return false;
  }
  session_key_ = host + ":" + std::to_string(role.port);
  client_context_->prepare(ssl, &session_key_);
  return true;
}

void TlsStream::set_handler(StreamHandler* handler) {
  if (!closed_) handler_ = handler;
}

void TlsStream::start_reading() {
  if (closed_ || reading_) return;
  reading_ = true;
  sync_inner_reading();
  // Records that arrived while paused are delivered from the loop, not from this call.
  if (phase_ == Phase::open && (BIO_ctrl_pending(network_in_) > 0 || SSL_pending(ssl_.get()) > 0 ||
                                inner_eof_ || peer_closed_)) {
    schedule();
  }
}

void TlsStream::stop_reading() {
  if (!reading_) return;
  reading_ = false;
  sync_inner_reading();
}

bool TlsStream::reading() const {
  return reading_;
}

void TlsStream::write(const uv_buf_t* bufs, unsigned count) {
  if (!active() || close_notify_sent_ || shutdown_requested_) return;
  if (phase_ == Phase::handshaking) {
    for (unsigned i = 0; i < count; ++i) early_writes_.append(bufs[i].base, bufs[i].len);
  } else {
    for (unsigned i = 0; i < count; ++i) {
      if (!encrypt(bufs[i].base, bufs[i].len)) {
        fail("TLS write failed: " + openssl_reason(), UV_EPROTO, Report::later);
        return;
      }
    }
  }
  if (above_high_water()) was_above_high_water_ = true;
}

// Encrypts record by record, handing each to the inner stream at once.
bool TlsStream::encrypt(const char* data, std::size_t len) {
  while (len > 0) {
    const std::size_t chunk = std::min(len, kRecordSize);
    std::size_t written = 0;
    ERR_clear_error();
    // With a memory BIO the write never waits for the network: all or an error.
    if (SSL_write_ex(ssl_.get(), data, chunk, &written) != 1) {
      flush_output();  // an alert, if any
      return false;
    }
    flush_output();
    data += written;
    len -= written;
  }
  return true;
}

std::size_t TlsStream::queued() const {
  if (closed_) return 0;
  return early_writes_.size() + inner_->queued();
}

bool TlsStream::above_high_water() const {
  if (closed_) return false;
  return early_writes_.size() > high_water_ || inner_->above_high_water();
}

void TlsStream::shutdown_after_writes() {
  if (closed_ || shutdown_requested_) return;
  shutdown_requested_ = true;
  if (failed_) {
    inner_->shutdown_after_writes();  // no TLS left to close: end the transport
  } else if (phase_ == Phase::open) {
    send_close_notify();
  }  // while handshaking: sent once the handshake is done
}

void TlsStream::send_close_notify() {
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // 0: our close_notify is out, the peer's not yet seen
  ERR_clear_error();
  flush_output();
  close_notify_sent_ = true;
  inner_->shutdown_after_writes();
}

void TlsStream::close() {
  if (closed_) return;
  closed_ = true;
  handler_ = nullptr;
  reading_ = false;
  deferred_.reset();
  early_writes_.clear();
  inner_->close();
}

bool TlsStream::failed() const {
  return closed_ || failed_ || inner_->failed();
}

std::string TlsStream::peer_name() const {
  return inner_->peer_name();
}

std::string TlsStream::alpn() const {
  if (!ssl_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), data == nullptr ? 0 : len);
}

bool TlsStream::session_resumed() const {
  return ssl_ && SSL_session_reused(ssl_.get()) == 1;
}

std::string TlsStream::peer_subject() const {
  if (!ssl_) return {};
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  if (cert == nullptr) return {};
  BIO* out = BIO_new(BIO_s_mem());
  if (out == nullptr) return {};
  X509_NAME_print_ex(out, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(out, &data);
  std::string subject(data, len > 0 ? static_cast<std::size_t>(len) : 0);
  BIO_free(out);
  return subject;
}

std::string TlsStream::protocol_version() const {
  return ssl_ ? SSL_get_version(ssl_.get()) : "";
}

// --- the inner stream's events ---

void TlsStream::on_read(ByteStream&, const char* data, std::size_t len) {
  if (!active()) return;
  BIO_write(network_in_, data, static_cast<int>(len));  // the inner stream reads ≤ 64 KiB
  progress();
}

void TlsStream::on_eof(ByteStream&) {
  if (!active()) return;
  inner_eof_ = true;
  if (phase_ == Phase::handshaking) {
    // What arrived with the end may still finish (or fail) the handshake.
    const std::weak_ptr<char> alive = alive_;
    continue_handshake(Report::now);
    if (!alive.expired() && phase_ == Phase::handshaking && active()) {
      fail("connection closed during the TLS handshake", UV_EOF, Report::now);
    }
    return;
  }
  progress();
}

void TlsStream::on_error(ByteStream&, int uv_status) {
  if (!active()) return;
  const std::string where = phase_ == Phase::handshaking ? " during the TLS handshake" : "";
  fail(std::string("connection error") + where + ": " + uv_strerror(uv_status), uv_status,
       Report::now);
}

void TlsStream::on_drained(ByteStream&) {
  if (closed_ || !was_above_high_water_ || above_high_water()) return;
  was_above_high_water_ = false;
  if (handler_) handler_->on_drained(*this);
}

void TlsStream::on_shutdown(ByteStream&) {
  if (!closed_ && handler_) handler_->on_shutdown(*this);
}

// --- the state machine ---

// Runs from the loop only (an inner event or the deferred timer): may call the handler.
void TlsStream::progress() {
  const std::weak_ptr<char> alive = alive_;
  if (phase_ == Phase::handshaking) continue_handshake(Report::now);
  if (alive.expired()) return;
  if (phase_ == Phase::open && active()) read_records();
  if (alive.expired()) return;
  sync_inner_reading();
}

void TlsStream::continue_handshake(Report report) {
  if (!active() || phase_ != Phase::handshaking) return;
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_.get());
  flush_output();
  if (rc == 1) {
    if (report == Report::now) {
      finish_handshake();
    } else {
      schedule();  // cannot happen from a ClientHello alone; handled anyway
    }
    return;
  }
  const int error = SSL_get_error(ssl_.get(), rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return;  // waits for the peer's bytes: nothing runs until they arrive
  }
  handshake_error_ = describe_handshake_failure(error);
  fail(handshake_error_, UV_EPROTO, report);
}

std::string TlsStream::describe_handshake_failure(int ssl_error) {
  if (client_context_ && client_context_->verifies()) {
    const long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    }
  }
  std::string reason = openssl_reason();
  if (!reason.empty()) return "TLS handshake failed: " + reason;
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
    return "connection closed during the TLS handshake";
  }
  return "TLS handshake failed";
}

void TlsStream::finish_handshake() {
  const std::weak_ptr<char> alive = alive_;
  phase_ = Phase::open;
  if (client_context_ && client_context_->verifies() &&
      (SSL_get0_peer_certificate(ssl_.get()) == nullptr ||
       SSL_get_verify_result(ssl_.get()) != X509_V_OK)) {
    phase_ = Phase::handshaking;  // fail closed; cannot happen with SSL_VERIFY_PEER
    handshake_error_ = "certificate verify failed: no verified peer certificate";
    fail(handshake_error_, UV_EPROTO, Report::now);
    return;
  }
  std::string early = std::exchange(early_writes_, {});
  if (!early.empty() && !encrypt(early.data(), early.size())) {
    fail("TLS write failed: " + openssl_reason(), UV_EPROTO, Report::now);
    return;
  }
  if (shutdown_requested_) send_close_notify();
  connected_reported_ = true;
  if (handler_) handler_->on_connected(*this, 0);
  if (alive.expired() || closed_) return;
  // The early writes moved to the inner stream: a writer told to wait may go on once that
  // stream is below its own mark (it reports on_drained only if it went above it).
  if (was_above_high_water_ && !above_high_water()) {
    was_above_high_water_ = false;
    if (handler_) handler_->on_drained(*this);
  }
}

// Delivers the decrypted records while the handler reads.
void TlsStream::read_records() {
  const std::weak_ptr<char> alive = alive_;
  auto& buffer = plaintext_buffer();
  while (active() && reading_ && handler_ != nullptr && !eof_delivered_) {
    std::size_t got = 0;
    ERR_clear_error();
    const int rc = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &got);
    flush_output();  // a KeyUpdate answer or an alert
    if (rc == 1) {
      handler_->on_read(*this, buffer.data(), got);
      if (alive.expired()) return;
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), rc);
    if (error == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      deliver_eof();
      return;
    }
    if (error == SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      // The transport ended without close_notify: an end all the same (HTTP framing above
      // detects a truncated body); eof_was_clean() says which.
      if (inner_eof_) deliver_eof();
      return;
    }
    fail("TLS read failed: " + openssl_reason(), UV_EPROTO, Report::now);
    return;
  }
}

void TlsStream::deliver_eof() {
  if (eof_delivered_) return;
  eof_delivered_ = true;
  reading_ = false;
  sync_inner_reading();
  if (handler_) handler_->on_eof(*this);
}

// Hands what OpenSSL wrote to the memory BIO to the inner stream.
void TlsStream::flush_output() {
  if (network_out_ == nullptr || closed_) return;
  auto& buffer = ciphertext_buffer();
  while (BIO_ctrl_pending(network_out_) > 0) {
    const int n = BIO_read(network_out_, buffer.data(), static_cast<int>(buffer.size()));
    if (n <= 0) break;
    inner_->write(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
}

void TlsStream::fail(std::string reason, int uv_status, Report report) {
  if (failed_ || closed_) return;
  failed_ = true;
  failure_status_ = uv_status;
  if (phase_ == Phase::open) {
    failure_ = std::move(reason);
  } else if (handshake_error_.empty()) {
    handshake_error_ = std::move(reason);
  }
  early_writes_.clear();
  sync_inner_reading();
  if (report == Report::now) {
    report_failure();
  } else {
    schedule();
  }
}

// The failure goes out once: on_connected while the handshake was pending, on_error after.
void TlsStream::report_failure() {
  if (failure_reported_ || closed_) return;
  failure_reported_ = true;
  if (handler_ == nullptr) return;
  if (!connected_reported_) {
    connected_reported_ = true;
    handler_->on_connected(*this, failure_status_);
  } else {
    handler_->on_error(*this, failure_status_);
  }
}

// The inner stream reads while the handshake needs bytes, or while our handler reads.
void TlsStream::sync_inner_reading() {
  if (closed_) return;
  const bool want =
      active() && !inner_eof_ && (phase_ == Phase::handshaking || (reading_ && !eof_delivered_));
  if (want && !inner_->reading()) {
    inner_->start_reading();
  } else if (!want && inner_->reading()) {
    inner_->stop_reading();
  }
}

void TlsStream::schedule() {
  if (closed_) return;
  if (!deferred_) deferred_ = std::make_unique<Timer>(loop_, [this] { run_deferred(); });
  if (!deferred_->active()) deferred_->start(std::chrono::milliseconds(0));
}

void TlsStream::run_deferred() {
  if (closed_) return;
  if (failed_) {
    report_failure();
    return;
  }
  progress();
}

}  // namespace flow::proxy
