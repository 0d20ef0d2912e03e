#include "flow/proxy/http/http_codec.hpp"

#include "flow/payment/ascii.hpp"

namespace flow::proxy {
namespace {

HttpParser* self(llhttp_t* p) {
  return static_cast<HttpParser*>(p->data);
}

// Transfer-Encoding must be exactly one "chunked" across all field lines: any other coding
// (gzip, identity, a repeated chunked) is refused rather than passed on with ambiguous framing.
bool transfer_coding_supported(const HeaderList& headers) {
  int tokens = 0;
  bool only_chunked = true;
  for (const auto& h : headers) {
    if (!iequals(h.name, "transfer-encoding")) continue;
    std::string_view list = h.value;
    while (true) {
      const auto comma = list.find(',');
      const auto token = payment::trim_ows(list.substr(0, comma));
      ++tokens;
      only_chunked = only_chunked && iequals(token, "chunked");
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return tokens == 0 || (tokens == 1 && only_chunked);
}

// llhttp hands values over with their trailing whitespace: trim once here, so every reader
// (Idempotency-Key, X-402flow-Mode, ...) sees one spelling of one value (RFC 9110 5.5 OWS).
void trim_field_values(HeaderList& headers) {
  for (auto& h : headers) {
    const std::string_view trimmed = payment::trim_ows(h.value);
    if (trimmed.size() == h.value.size()) continue;
    h.value = std::string(trimmed);
  }
}

bool valid_field_names(const HeaderList& headers) {
  for (const auto& h : headers) {
    if (!is_token(h.name)) return false;
  }
  return true;
}

}  // namespace

std::string_view parse_error_name(ParseError e) {
  switch (e) {
    case ParseError::none:
      return "none";
    case ParseError::malformed:
      return "malformed";
    case ParseError::head_too_large:
      return "head_too_large";
    case ParseError::unsupported_transfer_coding:
      return "unsupported_transfer_coding";
    case ParseError::conflicting_host:
      return "conflicting_host";
    case ParseError::invalid_field_name:
      return "invalid_field_name";
    case ParseError::eof_in_message:
      return "eof_in_message";
  }
  return "unknown";
}

HttpParser::HttpParser(Kind kind, std::size_t max_head_bytes)
    : kind_(kind), max_head_bytes_(max_head_bytes) {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &HttpParser::cb_message_begin;
    s.on_url = &HttpParser::cb_url;
    s.on_status = &HttpParser::cb_status;
    s.on_method = &HttpParser::cb_method;
    s.on_header_field = &HttpParser::cb_header_field;
    s.on_header_value = &HttpParser::cb_header_value;
    s.on_headers_complete = &HttpParser::cb_headers_complete;
    s.on_body = &HttpParser::cb_body;
    s.on_message_complete = &HttpParser::cb_message_complete;
    return s;
  }();
  llhttp_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
  parser_.data = this;
}

void HttpParser::reset() {
  llhttp_reset(&parser_);
  in_message_ = false;
  in_body_ = false;
  message_ended_ = false;
  error_ = ParseError::none;
}

void HttpParser::resume() {
  if (message_ended_) {
    // Each message starts from a clean parser: keep-alive is the owner's decision, and a
    // stripped Upgrade must not leave llhttp in "other protocol" mode.
    llhttp_reset(&parser_);
    message_ended_ = false;
  } else {
    llhttp_resume(&parser_);
  }
}

HttpParser::Result HttpParser::feed(const char* data, std::size_t len) {
  return result_from(llhttp_execute(&parser_, data, len), data, len);
}

HttpParser::Result HttpParser::finish() {
  const llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_OK && in_message_) {
    error_ = ParseError::eof_in_message;
    return {Status::error, 0};
  }
  if (err == HPE_PAUSED) return {message_ended_ ? Status::paused_end : Status::paused_head, 0};
  if (err != HPE_OK) {
    if (error_ == ParseError::none) error_ = ParseError::eof_in_message;
    return {Status::error, 0};
  }
  return {Status::need_more, 0};
}

HttpParser::Result HttpParser::result_from(llhttp_errno_t err, const char* data, std::size_t len) {
  switch (err) {
    case HPE_OK:
      return {Status::need_more, len};
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE: {
      const char* pos = llhttp_get_error_pos(&parser_);
      const std::size_t consumed = pos ? static_cast<std::size_t>(pos - data) : len;
      if (err == HPE_PAUSED_UPGRADE) message_ended_ = true;
      return {message_ended_ ? Status::paused_end : Status::paused_head, consumed};
    }
    default:
      if (error_ == ParseError::none) error_ = ParseError::malformed;
      return {Status::error, 0};
  }
}

std::string_view HttpParser::error_reason() const {
  switch (error_) {
    case ParseError::malformed: {
      const char* reason = llhttp_get_error_reason(&parser_);
      return reason ? reason : "malformed message";
    }
    case ParseError::head_too_large:
      return "request line and headers exceed the size limit";
    case ParseError::unsupported_transfer_coding:
      return "Transfer-Encoding other than a single final 'chunked'";
    case ParseError::conflicting_host:
      return "more than one Host header";
    case ParseError::invalid_field_name:
      return "invalid header field name (whitespace before the colon?)";
    case ParseError::eof_in_message:
      return "connection closed in the middle of a message";
    case ParseError::none:
      return "";
  }
  return "";
}

bool HttpParser::is_connect() const {
  return kind_ == Kind::request && request_.method == "CONNECT";
}

int HttpParser::add_head_bytes(std::size_t n) {
  head_bytes_ += n;
  if (head_bytes_ > max_head_bytes_) {
    error_ = ParseError::head_too_large;
    return HPE_USER;
  }
  return HPE_OK;
}

int HttpParser::cb_message_begin(llhttp_t* p) {
  HttpParser& s = *self(p);
  s.in_message_ = true;
  s.in_body_ = false;
  s.message_ended_ = false;
  s.last_was_value_ = false;
  s.head_bytes_ = 0;
  s.content_length_.reset();
  s.chunked_ = false;
  s.until_eof_ = false;
  s.trailers_.clear();
  if (s.kind_ == Kind::request) {
    s.request_.method.clear();
    s.request_.target.clear();
    s.request_.headers.clear();
  } else {
    s.response_.reason.clear();
    s.response_.headers.clear();
  }
  return HPE_OK;
}

int HttpParser::cb_url(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = *self(p);
  s.request_.target.append(at, n);
  return s.add_head_bytes(n);
}

int HttpParser::cb_status(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = *self(p);
  s.response_.reason.append(at, n);
  return s.add_head_bytes(n);
}

int HttpParser::cb_method(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = *self(p);
  s.request_.method.append(at, n);
  return s.add_head_bytes(n);
}

int HttpParser::cb_header_field(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = *self(p);
  HeaderList& list = s.in_body_
                         ? s.trailers_
                         : (s.kind_ == Kind::request ? s.request_.headers : s.response_.headers);
  if (list.empty() || s.last_was_value_) list.push_back({});
  list.back().name.append(at, n);
  s.last_was_value_ = false;
  return s.add_head_bytes(n + 4);  // ": " and CRLF count against the limit too
}

int HttpParser::cb_header_value(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = *self(p);
  HeaderList& list = s.in_body_
                         ? s.trailers_
                         : (s.kind_ == Kind::request ? s.request_.headers : s.response_.headers);
  if (list.empty()) return HPE_USER;
  list.back().value.append(at, n);
  s.last_was_value_ = true;
  return s.add_head_bytes(n);
}

int HttpParser::validate_head() {
  HeaderList& headers = kind_ == Kind::request ? request_.headers : response_.headers;
  trim_field_values(headers);
  if (!valid_field_names(headers)) {
    error_ = ParseError::invalid_field_name;
    return HPE_USER;
  }
  if (!transfer_coding_supported(headers)) {
    error_ = ParseError::unsupported_transfer_coding;
    return HPE_USER;
  }
  if (kind_ == Kind::request && count_headers(headers, "host") > 1) {
    error_ = ParseError::conflicting_host;
    return HPE_USER;
  }
  return HPE_OK;
}

int HttpParser::cb_headers_complete(llhttp_t* p) {
  HttpParser& s = *self(p);
  s.in_body_ = true;
  s.last_was_value_ = false;
  if (s.kind_ == Kind::request) {
    s.request_.version = {p->http_major, p->http_minor};
  } else {
    s.response_.version = {p->http_major, p->http_minor};
    s.response_.status = p->status_code;
  }
  if (const int err = s.validate_head(); err != HPE_OK) return err;
  s.chunked_ = (p->flags & F_CHUNKED) != 0;
  if ((p->flags & F_CONTENT_LENGTH) != 0 && !s.chunked_) s.content_length_ = p->content_length;
  s.until_eof_ = !s.chunked_ && !s.content_length_ && llhttp_message_needs_eof(p) != 0;
  s.keep_alive_ = llhttp_should_keep_alive(p) != 0;
  if (s.sink_ == nullptr) return HPE_OK;
  switch (s.sink_->on_head()) {
    case MessageSink::HeadAction::proceed:
      return 0;
    case MessageSink::HeadAction::skip_body:
      s.until_eof_ = false;
      return 1;
    case MessageSink::HeadAction::pause:
      return HPE_PAUSED;
  }
  return 0;
}

int HttpParser::cb_body(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = *self(p);
  if (s.sink_ != nullptr) s.sink_->on_body({at, n});
  return HPE_OK;
}

int HttpParser::cb_message_complete(llhttp_t* p) {
  HttpParser& s = *self(p);
  trim_field_values(s.trailers_);
  if (!valid_field_names(s.trailers_)) {
    s.error_ = ParseError::invalid_field_name;
    return HPE_USER;
  }
  s.in_message_ = false;
  s.message_ended_ = true;
  if (s.sink_ != nullptr) s.sink_->on_message_end();
  return HPE_PAUSED;
}

}  // namespace flow::proxy
