#include "support/http_wire.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace flow::testing {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxHeadBytes = 1 << 20;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Reads header lines up to the empty line; appends the raw bytes to `raw`.
Headers read_header_block(BufferedReader& reader, Deadline deadline, std::string& raw) {
  Headers headers;
  for (;;) {
    auto line = reader.read_line(deadline);
    if (!line) throw ParseError("stream ended inside the header block");
    raw += *line;
    raw += "\r\n";
    if (raw.size() > kMaxHeadBytes) throw ParseError("header block too large");
    if (line->empty()) return headers;
    auto colon = line->find(':');
    if (colon == std::string::npos || colon == 0)
      throw ParseError("header line without name: " + *line);
    std::string_view name(line->data(), colon);
    if (name.find_first_of(" \t") != std::string_view::npos) {
      throw ParseError("whitespace in header name: " + *line);
    }
    headers.push_back(
        {std::string(name), std::string(trim(std::string_view(*line).substr(colon + 1)))});
  }
}

std::size_t parse_size(std::string_view text, int base, const char* what) {
  text = trim(text);
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw ParseError(std::string("bad ") + what + ": '" + std::string(text) + "'");
  }
  return value;
}

void read_chunked(BufferedReader& reader, const BodySink& sink, Headers& trailers,
                  Deadline deadline) {
  for (;;) {
    auto line = reader.read_line(deadline);
    if (!line) throw ParseError("stream ended before a chunk size");
    std::string_view size_text(*line);
    size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions are ignored
    std::size_t size = parse_size(size_text, 16, "chunk size");
    if (size == 0) break;
    reader.read_exact(size, sink, deadline);
    auto crlf = reader.read_line(deadline);
    if (!crlf || !crlf->empty()) throw ParseError("chunk data not followed by CRLF");
  }
  std::string raw_trailers;
  trailers = read_header_block(reader, deadline, raw_trailers);
}

std::optional<std::size_t> content_length(const Headers& headers) {
  auto value = find_header(headers, "content-length");
  if (!value) return std::nullopt;
  return parse_size(*value, 10, "Content-Length");
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string> find_header(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::size_t count_header(const Headers& headers, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const Header& h) { return iequals(h.name, name); }));
}

bool header_has_token(const Headers& headers, std::string_view name, std::string_view token) {
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    std::string_view rest(h.value);
    while (!rest.empty()) {
      auto comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

bool BufferedReader::fill(Deadline deadline) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > kReadChunk) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  std::size_t old = buf_.size();
  buf_.resize(old + kReadChunk);
  std::size_t got = 0;
  try {
    got = stream_->read_some(buf_.data() + old, kReadChunk, deadline);
  } catch (...) {
    buf_.resize(old);
    throw;
  }
  buf_.resize(old + got);
  return got > 0;
}

std::optional<std::string> BufferedReader::read_line(Deadline deadline, std::size_t max_length) {
  std::size_t scanned = pos_;
  for (;;) {
    auto nl = buf_.find('\n', scanned);
    if (nl != std::string::npos) {
      std::size_t end = (nl > pos_ && buf_[nl - 1] == '\r') ? nl - 1 : nl;
      std::string line = buf_.substr(pos_, end - pos_);
      pos_ = nl + 1;
      return line;
    }
    if (buf_.size() - pos_ > max_length) throw ParseError("line too long");
    std::size_t already_scanned = buf_.size() - pos_;
    if (!fill(deadline)) {
      if (buffered() == 0) return std::nullopt;
      throw ParseError("stream ended mid-line: '" + buf_.substr(pos_) + "'");
    }
    scanned = pos_ + already_scanned;  // fill() may have compacted the buffer
  }
}

void BufferedReader::read_exact(std::size_t n, const BodySink& sink, Deadline deadline) {
  while (n > 0) {
    if (buffered() == 0 && !fill(deadline)) {
      throw ParseError("stream ended with " + std::to_string(n) + " body bytes missing");
    }
    std::size_t take = std::min(n, buffered());
    sink(std::string_view(buf_).substr(pos_, take));
    pos_ += take;
    n -= take;
  }
}

void BufferedReader::read_to_eof(const BodySink& sink, Deadline deadline) {
  for (;;) {
    if (buffered() > 0) {
      sink(std::string_view(buf_).substr(pos_));
      pos_ = buf_.size();
    }
    if (!fill(deadline)) return;
  }
}

std::optional<HttpRequest> read_request_head(BufferedReader& reader, Deadline deadline) {
  auto line = reader.read_line(deadline);
  if (!line) return std::nullopt;
  HttpRequest req;
  req.head = *line + "\r\n";
  auto sp1 = line->find(' ');
  auto sp2 = line->rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) throw ParseError("bad request line: " + *line);
  req.method = line->substr(0, sp1);
  req.target = line->substr(sp1 + 1, sp2 - sp1 - 1);
  req.version = line->substr(sp2 + 1);
  req.headers = read_header_block(reader, deadline, req.head);
  if (find_header(req.headers, "transfer-encoding")) {
    if (!header_has_token(req.headers, "transfer-encoding", "chunked")) {
      throw ParseError("request transfer coding is not chunked");
    }
    req.framing = BodyFraming::chunked;
  } else if (find_header(req.headers, "content-length")) {
    req.framing = BodyFraming::content_length;
  }
  return req;
}

void read_request_body(BufferedReader& reader, HttpRequest& request, const BodySink& sink,
                       Deadline deadline) {
  BodySink to_memory = [&](std::string_view piece) { request.body.append(piece); };
  const BodySink& out = sink ? sink : to_memory;
  std::size_t total = 0;
  BodySink counting = [&](std::string_view piece) {
    total += piece.size();
    out(piece);
  };
  if (request.framing == BodyFraming::chunked) {
    read_chunked(reader, counting, request.trailers, deadline);
  } else if (request.framing == BodyFraming::content_length) {
    reader.read_exact(*content_length(request.headers), counting, deadline);
  }
  request.body_bytes = total;
}

HttpResponse read_response(BufferedReader& reader, Deadline deadline,
                           const ResponseReadOptions& options) {
  std::vector<HttpResponse> interim;
  for (;;) {
    auto line = reader.read_line(deadline);
    if (!line) throw ParseError("connection closed before a response");
    HttpResponse resp;
    resp.head = *line + "\r\n";
    auto sp1 = line->find(' ');
    if (sp1 == std::string::npos || line->compare(0, 5, "HTTP/") != 0) {
      throw ParseError("bad status line: " + *line);
    }
    resp.version = line->substr(0, sp1);
    auto rest = std::string_view(*line).substr(sp1 + 1);
    resp.status = static_cast<int>(parse_size(rest.substr(0, 3), 10, "status code"));
    resp.reason = std::string(trim(rest.size() > 3 ? rest.substr(3) : std::string_view()));
    resp.headers = read_header_block(reader, deadline, resp.head);

    bool informational = resp.status >= 100 && resp.status < 200 && resp.status != 101;
    if (informational && !options.stop_at_interim) {
      interim.push_back(std::move(resp));
      continue;
    }
    resp.interim = std::move(interim);
    if (informational) return resp;

    BodySink to_memory = [&](std::string_view piece) { resp.body.append(piece); };
    const BodySink& out = options.body_sink ? options.body_sink : to_memory;
    std::size_t total = 0;
    BodySink counting = [&](std::string_view piece) {
      total += piece.size();
      out(piece);
    };
    bool no_body = options.head_request || resp.status == 204 || resp.status == 304 ||
                   resp.status == 101 ||
                   (options.connect_request && resp.status >= 200 && resp.status < 300);
    if (no_body) {
      resp.framing = BodyFraming::none;
    } else if (find_header(resp.headers, "transfer-encoding")) {
      if (!header_has_token(resp.headers, "transfer-encoding", "chunked")) {
        throw ParseError("response transfer coding is not chunked");
      }
      resp.framing = BodyFraming::chunked;
      read_chunked(reader, counting, resp.trailers, deadline);
    } else if (auto length = content_length(resp.headers)) {
      resp.framing = BodyFraming::content_length;
      reader.read_exact(*length, counting, deadline);
    } else {
      resp.framing = BodyFraming::close_delimited;
      reader.read_to_eof(counting, deadline);
    }
    resp.body_bytes = total;
    return resp;
  }
}

std::string reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

std::string http_response(int status, std::string_view body, const Headers& headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  for (const auto& h : headers) out += h.name + ": " + h.value + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out.append(body);
  return out;
}

std::string chunked_body(const std::vector<std::string>& chunks, const Headers& trailers) {
  std::string out;
  char size[32];
  for (const auto& chunk : chunks) {
    if (chunk.empty()) continue;
    auto [end, ec] = std::to_chars(size, size + sizeof size, chunk.size(), 16);
    (void)ec;
    out.append(size, end);
    out += "\r\n" + chunk + "\r\n";
  }
  out += "0\r\n";
  for (const auto& h : trailers) out += h.name + ": " + h.value + "\r\n";
  out += "\r\n";
  return out;
}

void Checksum::update(std::string_view data) {
  for (char c : data) {
    hash_ ^= static_cast<unsigned char>(c);
    hash_ *= 0x100000001b3ULL;
  }
}

PatternSource::PatternSource(std::uint32_t seed) : block_(64 * 1024) {
  std::uint32_t x = seed ? seed : 1;
  for (auto& b : block_) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<unsigned char>(x);
  }
}

void PatternSource::fill(char* out, std::size_t n) {
  while (n > 0) {
    std::size_t in_block = offset_ % block_.size();
    std::size_t take = std::min(n, block_.size() - in_block);
    auto block_mask = static_cast<unsigned char>((offset_ / block_.size()) * 131U);
    const unsigned char* src = block_.data() + in_block;
    for (std::size_t i = 0; i < take; ++i) out[i] = static_cast<char>(src[i] ^ block_mask);
    out += take;
    n -= take;
    offset_ += take;
  }
}

}  // namespace flow::testing
