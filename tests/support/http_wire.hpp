// HTTP/1.1 messages as the tests see them on the wire: a buffered reader over a ByteStream, request
// and response parsers that keep the raw head bytes, and builders for raw responses and bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "support/socket_io.hpp"

namespace flow::testing {

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

bool iequals(std::string_view a, std::string_view b);
// First value of header `name` (case-insensitive).
std::optional<std::string> find_header(const Headers& headers, std::string_view name);
std::size_t count_header(const Headers& headers, std::string_view name);
// True when some `name` header lists `token` in its comma-separated value (case-insensitive).
bool header_has_token(const Headers& headers, std::string_view name, std::string_view token);

using BodySink = std::function<void(std::string_view)>;

class BufferedReader {
 public:
  explicit BufferedReader(ByteStream& stream) : stream_(&stream) {}

  // A line without its CRLF (a bare LF also ends it). nullopt when the stream ends before any byte
  // of the line; ParseError when it ends mid-line.
  std::optional<std::string> read_line(Deadline deadline, std::size_t max_length = 1 << 20);
  void read_exact(std::size_t n, const BodySink& sink, Deadline deadline);
  void read_to_eof(const BodySink& sink, Deadline deadline);
  // Bytes received but not yet consumed by a parser.
  std::size_t buffered() const { return buf_.size() - pos_; }
  ByteStream& stream() { return *stream_; }

 private:
  bool fill(Deadline deadline);  // false at end of stream
  ByteStream* stream_;
  std::string buf_;
  std::size_t pos_ = 0;
};

enum class BodyFraming { none, content_length, chunked, close_delimited };

struct HttpRequest {
  std::string method;
  std::string target;
  std::string version;
  Headers headers;
  std::string head;  // exact bytes of the request line and header block, final CRLF included
  std::string body;  // decoded; filled only when the body was read into memory
  Headers trailers;
  BodyFraming framing = BodyFraming::none;
  std::size_t body_bytes = 0;  // decoded body length, also when streamed to a sink

  std::optional<std::string> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

struct HttpResponse {
  std::string version;
  int status = 0;
  std::string reason;
  Headers headers;
  std::string head;
  std::string body;
  Headers trailers;
  BodyFraming framing = BodyFraming::none;
  std::size_t body_bytes = 0;
  std::vector<HttpResponse> interim;  // 1xx responses that preceded this one

  std::optional<std::string> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

// Reads a request head. nullopt at a clean end of stream before the first byte.
std::optional<HttpRequest> read_request_head(BufferedReader& reader, Deadline deadline);
// Reads the body framed by the head into `request.body`, or into `sink` when one is given.
void read_request_body(BufferedReader& reader, HttpRequest& request, const BodySink& sink,
                       Deadline deadline);

struct ResponseReadOptions {
  bool head_request = false;     // response to HEAD: no body whatever the headers say
  bool connect_request = false;  // response to CONNECT: a 2xx has no body
  bool stop_at_interim = false;  // return a 1xx as the response instead of collecting it
  BodySink body_sink;            // stream the body here instead of into `body`
};
HttpResponse read_response(BufferedReader& reader, Deadline deadline,
                           const ResponseReadOptions& options = {});

std::string reason_phrase(int status);
// "HTTP/1.1 <status> <reason>\r\n" + headers + Content-Length framing + body.
std::string http_response(int status, std::string_view body, const Headers& headers = {});
// A chunked body (one chunk per element, empty elements skipped) with its last-chunk and trailers.
std::string chunked_body(const std::vector<std::string>& chunks, const Headers& trailers = {});

// FNV-1a 64: order-sensitive, so reordered or duplicated body pieces change it.
class Checksum {
 public:
  void update(std::string_view data);
  std::uint64_t value() const { return hash_; }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

// A deterministic pseudo-random byte stream; every 64 KiB block differs from its neighbours.
class PatternSource {
 public:
  explicit PatternSource(std::uint32_t seed);
  void fill(char* out, std::size_t n);

 private:
  std::vector<unsigned char> block_;
  std::uint64_t offset_ = 0;
};

}  // namespace flow::testing
