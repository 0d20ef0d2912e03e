// The proxy's exchange handling with arbitrary bytes on both sides: a real Server on a libuv
// loop, a client socket that sends the first part of the input, and an origin that answers with
// the second part. "{O}" in the client part is replaced by the origin's address so that inputs
// can reach it. Timeouts are short so that stalled inputs end quickly.
#include <uv.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/tcp_stream.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/server.hpp"

namespace {

using namespace flow::proxy;
using namespace std::chrono_literals;

struct World;
World& world();

// The fuzzed origin: every accepted connection gets the origin bytes, then FIN.
struct OriginConn : StreamHandler {
  std::unique_ptr<TcpStream> stream;
  bool done = false;
  void on_read(ByteStream&, const char*, std::size_t) override {}
  void on_eof(ByteStream&) override { done = true; }
  void on_error(ByteStream&, int) override { done = true; }
};

struct Client : StreamHandler {
  std::unique_ptr<TcpStream> stream;
  bool finished = false;
  std::size_t received = 0;
  void on_connected(ByteStream&, int status) override {
    if (status != 0) finished = true;
  }
  void on_read(ByteStream&, const char*, std::size_t n) override { received += n; }
  void on_eof(ByteStream&) override { finished = true; }
  void on_error(ByteStream&, int) override { finished = true; }
};

struct World {
  uv_loop_t loop{};
  std::unique_ptr<LogWriter> null_log;
  std::unique_ptr<Logger> logger;
  std::unique_ptr<Server> server;
  uv_tcp_t origin_listener{};
  int origin_port = 0;
  int proxy_port = 0;
  std::string origin_bytes;
  std::vector<std::unique_ptr<OriginConn>> origin_conns;

  World() {
    uv_loop_init(&loop);
    const int fd = LogWriter::open_file("/dev/null");
    null_log = std::make_unique<LogWriter>(&loop, fd, true);
    logger = std::make_unique<Logger>(*null_log, LogLevel::error);
    flow::policy::ProxySettings s;
    s.listen = "127.0.0.1:0";
    s.connect_ports = {1};
    s.max_header_bytes = 4096;
    s.timeouts.header = 40ms;
    s.timeouts.idle = 40ms;
    s.timeouts.connect = 40ms;
    s.timeouts.upstream = 40ms;
    s.timeouts.tunnel_idle = 40ms;
    server = std::make_unique<Server>(&loop, s, *logger, *null_log);
    server->start();
    const std::string bound = server->bound_address();
    proxy_port = std::stoi(bound.substr(bound.rfind(':') + 1));

    uv_tcp_init(&loop, &origin_listener);
    origin_listener.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&origin_listener, reinterpret_cast<sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&origin_listener), 64, [](uv_stream_t* s, int) {
      auto* w = static_cast<World*>(s->data);
      auto conn = std::make_unique<OriginConn>();
      conn->stream = std::make_unique<TcpStream>(&w->loop, conn.get(), 1 << 20);
      if (conn->stream->accept_from(s) != 0) return;
      conn->stream->start_reading();
      conn->stream->write(w->origin_bytes);
      conn->stream->shutdown_after_writes();
      w->origin_conns.push_back(std::move(conn));
    });
    sockaddr_in bound_origin{};
    int len = sizeof bound_origin;
    uv_tcp_getsockname(&origin_listener, reinterpret_cast<sockaddr*>(&bound_origin), &len);
    origin_port = ntohs(bound_origin.sin_port);
  }
};

World& world() {
  static World* w = new World();  // lives for the whole fuzzing process
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find("\n\n\n\n");  // client part, then origin part
  std::string client_bytes = input.substr(0, split);
  w.origin_bytes = split == std::string::npos ? std::string() : input.substr(split + 4);
  const std::string origin = "127.0.0.1:" + std::to_string(w.origin_port);
  for (auto at = client_bytes.find("{O}"); at != std::string::npos; at = client_bytes.find("{O}")) {
    client_bytes.replace(at, 3, origin);
  }

  Client client;
  client.stream = std::make_unique<TcpStream>(&w.loop, &client, 1 << 20);
  sockaddr_in proxy{};
  uv_ip4_addr("127.0.0.1", w.proxy_port, &proxy);
  client.stream->connect(reinterpret_cast<sockaddr*>(&proxy));
  client.stream->write(client_bytes);
  client.stream->start_reading();
  bool expired = false;
  Timer limit(&w.loop, [&] { expired = true; });
  limit.start(300ms);
  while (!client.finished && !expired) uv_run(&w.loop, UV_RUN_ONCE);
  client.stream.reset();
  w.origin_conns.clear();
  // Let the proxy notice the close and tidy up before the next input.
  Timer settle(&w.loop, [] {});
  settle.start(1ms);
  uv_run(&w.loop, UV_RUN_ONCE);
  return 0;
}
