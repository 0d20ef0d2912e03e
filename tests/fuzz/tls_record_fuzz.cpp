// TlsStream with arbitrary bytes from its peer: the input is what an intercepted client sends to
// a server-role stream (first byte even) or what an origin answers a client-role stream (odd).
// The second byte sets how the bytes are cut: for the server role, how many arrive with the
// peeked ClientHello (the constructor's initial bytes); then the rest arrives in pieces of
// 1 + (second byte % 64) bytes, each followed by a turn of the loop (deferred reports). The
// handler echoes what it reads and writes on connect, so both directions run.
#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/network/tls_context.hpp"
#include "flow/proxy/network/tls_stream.hpp"
#include "support/tls_support.hpp"
#include "unit/proxy/fake_streams.hpp"

namespace {

using namespace flow::proxy;

struct Echo : StreamHandler {
  void on_read(ByteStream& stream, const char* data, std::size_t len) override {
    stream.write(std::string_view(data, len));
  }
  void on_eof(ByteStream& stream) override { stream.shutdown_after_writes(); }
  void on_error(ByteStream& stream, int) override { stream.close(); }
  void on_connected(ByteStream& stream, int status) override {
    if (status != 0) return;
    stream.start_reading();
    stream.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  }
};

struct World {
  World() {
    uv_loop_init(&loop);
    server = make_server_context(identity.certificate(), identity.key());
    client = make_insecure_client_context();
  }
  uv_loop_t loop{};
  flow::testing::TlsIdentity identity;
  std::shared_ptr<SSL_CTX> server;
  std::shared_ptr<TlsClientContext> client;
};

World& world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  World& w = world();
  const bool server_role = data[0] % 2 == 0;
  const std::size_t piece = 1 + data[1] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  auto inner = std::make_unique<testing::FakeByteStream>();
  testing::FakeByteStream& wire = *inner;
  Echo echo;
  std::unique_ptr<TlsStream> stream;
  if (server_role) {
    const std::size_t initial = std::min(input.size(), std::size_t{data[1]} * 4);
    stream = std::make_unique<TlsStream>(
        &w.loop, std::move(inner),
        TlsServerRole{w.server.get(), std::string(input.substr(0, initial)), nullptr}, &echo,
        64 * 1024);
    input.remove_prefix(initial);
  } else {
    stream = std::make_unique<TlsStream>(
        &w.loop, std::move(inner), TlsClientRole{w.client, "origin.test", 443}, &echo, 64 * 1024);
  }
  uv_run(&w.loop, UV_RUN_NOWAIT);
  while (!input.empty() && wire.reading()) {
    const std::size_t n = std::min(piece, input.size());
    wire.inject_read(input.substr(0, n));
    input.remove_prefix(n);
    wire.take_written();
    uv_run(&w.loop, UV_RUN_NOWAIT);
  }
  wire.inject_eof();
  uv_run(&w.loop, UV_RUN_NOWAIT);
  stream.reset();
  uv_run(&w.loop, UV_RUN_NOWAIT);  // the deferred timer's close
  return 0;
}
