#pragma once
#include <llhttp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "flow/proxy/http/http_message.hpp"

namespace flow::proxy {

// Why a message was refused. Each maps to one answer (400 or 431) and one access-log reason.
enum class ParseError {
  none,
  malformed,                    // llhttp rejected the bytes (bad syntax, bad chunk, CL+TE, ...)
  head_too_large,               // request line + headers over the limit
  unsupported_transfer_coding,  // anything but a single final "chunked"
  conflicting_host,             // more than one Host header
  invalid_field_name,           // not a token, e.g. whitespace before the colon
  eof_in_message,               // the peer closed in the middle of a message
};
std::string_view parse_error_name(ParseError e);

// What the owner of a parser is told. Callbacks run inside HttpParser::feed().
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  enum class HeadAction {
    proceed,    // go on parsing the body in the same feed
    pause,      // stop after the head; feed() returns paused_head
    skip_body,  // the message has no body whatever its headers say (HEAD, 1xx, 204, 304)
  };
  // The head is complete: request()/response() and the framing accessors are filled.
  virtual HeadAction on_head() = 0;
  virtual void on_body(std::string_view data) = 0;
  virtual void on_message_end() = 0;
};

// One direction of HTTP/1.1 over llhttp, strict mode. The parser pauses after each head and
// after each complete message so that the owner decides when the next bytes are consumed
// (this is how pipelined requests are answered in order and how request bodies wait for an
// upstream connection).
class HttpParser {
 public:
  enum class Kind { request, response };
  enum class Status {
    need_more,    // every byte was consumed
    paused_head,  // stopped after a head; the rest starts at `consumed`
    paused_end,   // stopped after a complete message
    error,
  };
  struct Result {
    Status status;
    std::size_t consumed;
  };

  HttpParser(Kind kind, std::size_t max_head_bytes);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  void set_sink(MessageSink* sink) { sink_ = sink; }
  Result feed(const char* data, std::size_t len);
  // The peer closed: completes a close-delimited body, or reports a truncated message.
  Result finish();
  // Continue after paused_head / paused_end. After paused_end the next message begins.
  void resume();
  // Forget everything (e.g. an upstream connection taken from the pool for a new exchange).
  void reset();

  const RequestHead& request() const { return request_; }
  RequestHead& request() { return request_; }
  const ResponseHead& response() const { return response_; }
  ResponseHead& response() { return response_; }
  const HeaderList& trailers() const { return trailers_; }

  bool chunked() const { return chunked_; }
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  bool keep_alive() const { return keep_alive_; }
  bool is_connect() const;
  bool in_message() const { return in_message_; }
  bool body_until_eof() const { return until_eof_; }
  ParseError error() const { return error_; }
  std::string_view error_reason() const;

 private:
  static int cb_message_begin(llhttp_t*);
  static int cb_url(llhttp_t*, const char*, std::size_t);
  static int cb_status(llhttp_t*, const char*, std::size_t);
  static int cb_method(llhttp_t*, const char*, std::size_t);
  static int cb_header_field(llhttp_t*, const char*, std::size_t);
  static int cb_header_value(llhttp_t*, const char*, std::size_t);
  static int cb_headers_complete(llhttp_t*);
  static int cb_body(llhttp_t*, const char*, std::size_t);
  static int cb_message_complete(llhttp_t*);
  int add_head_bytes(std::size_t n);
  int validate_head();
  Result result_from(llhttp_errno_t err, const char* data, std::size_t len);

  Kind kind_;
  std::size_t max_head_bytes_;
  llhttp_t parser_{};
  MessageSink* sink_ = nullptr;
  RequestHead request_;
  ResponseHead response_;
  HeaderList trailers_;
  std::size_t head_bytes_ = 0;
  std::optional<std::uint64_t> content_length_;
  bool in_message_ = false;
  bool in_body_ = false;  // trailers arrive through the header callbacks after the body
  bool last_was_value_ = false;
  bool keep_alive_ = false;
  bool chunked_ = false;
  bool until_eof_ = false;
  bool message_ended_ = false;
  ParseError error_ = ParseError::none;
};

}  // namespace flow::proxy
