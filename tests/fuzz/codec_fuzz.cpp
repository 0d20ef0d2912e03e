// Arbitrary bytes through the request and response parsers, split at every boundary the
// first input byte chooses, with pauses resumed the way the proxy resumes them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "flow/proxy/http/http_codec.hpp"

namespace {

struct Sink : flow::proxy::MessageSink {
  bool skip = false;
  std::size_t body = 0;
  HeadAction on_head() override { return skip ? HeadAction::skip_body : HeadAction::proceed; }
  void on_body(std::string_view d) override { body += d.size(); }
  void on_message_end() override {}
};

void run(flow::proxy::HttpParser::Kind kind, const std::uint8_t* data, std::size_t size,
         std::size_t step, bool skip) {
  using flow::proxy::HttpParser;
  Sink sink;
  sink.skip = skip;
  HttpParser parser(kind, 4096);
  parser.set_sink(&sink);
  const char* p = reinterpret_cast<const char*>(data);
  std::size_t pos = 0;
  while (pos < size) {
    const std::size_t n = std::min(step, size - pos);
    std::size_t off = 0;
    while (off < n) {
      const auto r = parser.feed(p + pos + off, n - off);
      if (r.status == HttpParser::Status::error) return;
      if (r.status == HttpParser::Status::need_more) break;
      off += r.consumed;
      parser.resume();
    }
    pos += n;
  }
  parser.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + (data[0] % 64);
  run(flow::proxy::HttpParser::Kind::request, data + 1, size - 1, step, false);
  run(flow::proxy::HttpParser::Kind::response, data + 1, size - 1, step, (data[0] & 0x80) != 0);
  return 0;
}
