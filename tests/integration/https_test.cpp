// HTTPS through interception: 402flow's own CA (`402flow ca init`), the built-in merchant over
// TLS with its own self-signed certificate (trusted by the proxy through tls.upstream_ca_file),
// and clients that trust only 402flow's CA. The same paid path as plain HTTP, inside TLS.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"
#include "support/test_origin.hpp"
#include "support/tls_support.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

// `402flow ca init --dir DIR`; returns DIR/ca.pem.
std::string make_ca(const TempDir& dir) {
  const std::string ca_dir = dir.file("ca");
  const CommandResult init =
      run_command({flow_binary(), "ca", "init", "--dir", ca_dir}, std::chrono::seconds(30));
  INFO(init.out << init.err);
  REQUIRE(init.status.exited);
  REQUIRE(init.status.code == 0);
  return ca_dir + "/ca.pem";
}

struct Https {
  TempDir dir;
  std::string ca_pem = make_ca(dir);
  MerchantProcess merchant{MerchantProcessOptions{{}, true}};
  PaidProxy proxy;

  // `upstream_ca`: the merchant's certificate is trusted upstream (else only the system store).
  explicit Https(bool upstream_ca = true, std::vector<std::string> run_args = {})
      : proxy(options(upstream_ca, std::move(run_args))) {}

  PaidProxyOptions options(bool upstream_ca, std::vector<std::string> run_args) const {
    PaidProxyOptions o;
    o.extra_args = std::move(run_args);
    o.policy += "tls:\n  ca_dir: " + dir.file("ca") + "\n";
    if (upstream_ca) o.policy += "  upstream_ca_file: " + merchant.ca_file() + "\n";
    return o;
  }

  // A CONNECT to the merchant, then TLS trusting only 402flow's CA.
  ClientConnection intercepted() const {
    ClientConnection client(proxy.port());
    const HttpResponse established = client.open_tunnel(merchant.authority());
    REQUIRE(established.status == 200);
    client.start_tls(ca_pem, "127.0.0.1");
    return client;
  }

  std::string get(std::string_view path, std::string_view headers = {}) const {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + merchant.authority() + "\r\n" +
           std::string(headers) + "\r\n";
  }
};

}  // namespace

TEST_CASE("an x402 payment over HTTPS through interception: paid, receipted, kept alive") {
  Https h;
  ClientConnection client = h.intercepted();
  const HttpResponse paid = client.exchange(h.get("/v2/weather", "Idempotency-Key: tls-1\r\n"));
  INFO(paid.head << paid.body);
  CHECK(paid.status == 200);
  CHECK(paid.body.find("forecast") != std::string::npos);
  CHECK(header_or_absent(paid, "x-402flow-payment-state") == "settled");
  const std::string receipt_id = header_or_absent(paid, "x-402flow-receipt");
  CHECK(receipt_id.rfind("rcpt_", 0) == 0);

  // The same TLS session serves the next request (keep-alive inside the tunnel).
  const HttpResponse free = client.exchange(h.get("/free"));
  CHECK(free.status == 200);

  const auto receipts = receipts_for(h.proxy.receipts(), "/v2/weather");
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0]["receipt_id"] == receipt_id);
  CHECK(receipts[0]["state"] == "settled");
  CHECK(receipts[0]["url"] == "https://" + h.merchant.authority() + "/v2/weather");
  // Each exchange inside the tunnel is logged as HTTPS, in a tunnel.
  const auto entries = h.proxy.process().wait_for_access_log(2, default_deadline());
  CHECK(entries[0]["path"] == "/v2/weather");
  CHECK(entries[0]["scheme"] == "https");
  CHECK(entries[0]["in_tunnel"] == true);
  const json book = merchant_book(h.merchant);
  REQUIRE(book.size() == 1);
  CHECK(book[0]["transaction"] == receipts[0]["settlement_ref"]);
}

TEST_CASE("a client that does not trust 402flow's CA fails its handshake; the next one is served") {
  Https h;
  {
    ClientConnection client(h.proxy.port());
    REQUIRE(client.open_tunnel(h.merchant.authority()).status == 200);
    // Trusts the merchant's own certificate, not the leaf 402flow presents.
    CHECK_THROWS_AS(client.start_tls(h.merchant.tls_identity(), "127.0.0.1"), IoError);
  }
  const auto entries = h.proxy.process().wait_for_access_log(1, default_deadline());
  CHECK(entries[0]["method"] == "CONNECT");
  CHECK(entries[0]["reason"] == "client_tls_failed");
  ClientConnection next = h.intercepted();
  CHECK(next.exchange(h.get("/free")).status == 200);
}

TEST_CASE("an upstream whose certificate does not verify is answered 502 upstream_tls_failed") {
  Https h(false);  // the merchant's self-signed certificate is in no trusted store
  ClientConnection client = h.intercepted();
  const HttpResponse r = client.exchange(h.get("/v2/weather", "Idempotency-Key: tls-bad\r\n"));
  INFO(r.head << r.body);
  check_proxy_error(r, 502, "upstream_tls_failed");
  CHECK(r.body.find("certificate verify failed") != std::string::npos);
  CHECK(receipts_for(h.proxy.receipts(), "/v2/weather").empty());  // nothing was paid
}

TEST_CASE("a host no rule names is spliced: the client sees the origin's own certificate") {
  TlsIdentity identity;
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "spliced: " + ex.request().target); },
                    &identity);
  Https h(true, {"--connect-ports", std::to_string(origin.port())});
  // "localhost" is named by no merchant rule (they name 127.0.0.1) and posture is block.
  ClientConnection client(h.proxy.port());
  REQUIRE(client.open_tunnel("localhost:" + std::to_string(origin.port())).status == 200);
  client.start_tls(identity, "localhost");  // throws unless it is the origin's certificate
  const HttpResponse r = client.exchange("GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(r.body == "spliced: /x");
  REQUIRE(origin.request_count() == 1);
  CHECK(origin.requests()[0].head == "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");  // untouched
}

TEST_CASE("curl with 402flow's CA pays an HTTPS merchant through the proxy") {
  const std::string curl = find_executable("curl");
  if (curl.empty()) {
    MESSAGE("curl is not installed: skipped");
    return;
  }
  Https h;
  const CommandResult r =
      run_command({curl, "-sS", "--max-time", "20", "-D", "-", "--proxy",
                   "http://127.0.0.1:" + std::to_string(h.proxy.port()), "--cacert", h.ca_pem, "-H",
                   "Idempotency-Key: curl-1", "https://" + h.merchant.authority() + "/v2/weather"},
                  std::chrono::seconds(30));
  INFO(r.out << r.err);
  REQUIRE(r.status.exited);
  CHECK(r.status.code == 0);
  CHECK(r.out.find("forecast") != std::string::npos);
  CHECK(lower_case(r.out).find("x-402flow-payment-state: settled") != std::string::npos);
  CHECK(receipts_for(h.proxy.receipts(), "/v2/weather").size() == 1);
}

TEST_CASE("clients that stall before or inside their handshake hold up no one, and are timed out") {
  Https h(true, {"--header-timeout", "1s"});
  std::vector<ClientConnection> stalled;
  for (int i = 0; i < 20; ++i) {
    ClientConnection& c = stalled.emplace_back(h.proxy.port());
    REQUIRE(c.open_tunnel(h.merchant.authority()).status == 200);
    // Half of them send nothing after CONNECT; half a TLS record header and stop.
    if (i % 2 == 1) c.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03", 10));
  }
  // Meanwhile a normal client is served at once.
  ClientConnection client = h.intercepted();
  const HttpResponse r = client.exchange(h.get("/free"));
  CHECK(r.status == 200);
  // The stalled ones are closed at the header timeout, each logged with its reason.
  for (auto& c : stalled) CHECK(c.wait_for_close());
  std::size_t timed_out = 0;
  for (const auto& line : h.proxy.process().wait_for_access_log(21, default_deadline())) {
    if (line.value("reason", "") == "request_timeout") ++timed_out;
  }
  CHECK(timed_out == 20);
}

TEST_CASE("an upstream whose certificate names another host is answered 502, naming the mismatch") {
  const std::string openssl = find_executable("openssl");
  REQUIRE_MESSAGE(!openssl.empty(), "openssl (scripts/setup.sh installs it) makes the certificate");
  TempDir certs;
  const std::string cert = certs.file("other.pem");
  const std::string key = certs.file("other.key");
  const CommandResult made =
      run_command({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-days", "2", "-subj", "/CN=other.test", "-addext",
                   "subjectAltName=DNS:other.test", "-keyout", key, "-out", cert},
                  std::chrono::seconds(30));
  REQUIRE(made.status.code == 0);
  // A merchant whose (trusted) certificate is for other.test, reached as 127.0.0.1.
  MerchantProcess other({"--tls-cert", cert, "--tls-key", key});
  TempDir dir;
  make_ca(dir);
  PaidProxyOptions o;
  o.policy += "tls:\n  ca_dir: " + dir.file("ca") + "\n  upstream_ca_file: " + cert + "\n";
  PaidProxy proxy(o);
  ClientConnection client(proxy.port());
  REQUIRE(client.open_tunnel(other.authority()).status == 200);
  client.start_tls(dir.file("ca") + "/ca.pem", "127.0.0.1");
  const HttpResponse r = client.exchange("GET /v2/weather HTTP/1.1\r\nHost: " + other.authority() +
                                         "\r\nIdempotency-Key: mismatch\r\n\r\n");
  INFO(r.head << r.body);
  check_proxy_error(r, 502, "upstream_tls_failed");
  CHECK(r.body.find("mismatch") != std::string::npos);
}
