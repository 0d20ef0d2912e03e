// The admin API of `402flow run`: probes without a token, metrics behind it, the start-up
// refusals that keep it from being exposed, and metrics that a strict Prometheus parser reads
// and that count what the proxy really did.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/metrics_parser.hpp"
#include "support/paid_proxy.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;

namespace {

constexpr const char* kToken = "s3cret-admin-token-0123456789";

HttpResponse admin_get(const ProxyProcess& proxy, std::string_view path,
                       std::string_view extra_headers = {}) {
  REQUIRE(proxy.admin_port() != 0);
  const std::string authority = "127.0.0.1:" + std::to_string(proxy.admin_port());
  return get_via_proxy(proxy.admin_port(), authority, path, extra_headers);
}

std::string bearer(std::string_view token) {
  return "Authorization: Bearer " + std::string(token) + "\r\n";
}

}  // namespace

TEST_CASE("livez and readyz answer without a token; metrics needs the bearer token") {
  ProxyProcess proxy({}, {std::string("FLOW402_ADMIN_TOKEN=") + kToken});

  const auto live = admin_get(proxy, "/livez");
  CHECK(live.status == 200);
  CHECK(nlohmann::json::parse(live.body)["live"] == true);
  const auto ready = admin_get(proxy, "/readyz");
  CHECK(ready.status == 200);
  CHECK(nlohmann::json::parse(ready.body)["ready"] == true);

  const auto anonymous = admin_get(proxy, "/metrics");
  CHECK(anonymous.status == 401);
  CHECK(nlohmann::json::parse(anonymous.body).contains("error"));
  CHECK(anonymous.header("www-authenticate").has_value());
  CHECK(admin_get(proxy, "/metrics", bearer("wrong-token")).status == 401);
  CHECK(admin_get(proxy, "/metrics", bearer(std::string(kToken) + "x")).status == 401);
  // Unknown paths are not revealed without the token.
  CHECK(admin_get(proxy, "/v1/nothing").status == 401);

  const auto metrics = admin_get(proxy, "/metrics", bearer(kToken));
  CHECK(metrics.status == 200);
  CHECK(metrics.header("content-type").value_or("").starts_with("text/plain; version=0.0.4"));
  CHECK(metrics.body.find("# TYPE flow402_exchanges_total counter") != std::string::npos);

  const auto missing = admin_get(proxy, "/nothing", bearer(kToken));
  CHECK(missing.status == 404);
  CHECK(nlohmann::json::parse(missing.body).contains("error"));
  CHECK(proxy.stderr_text().find(kToken) == std::string::npos);
}

TEST_CASE("an admin listener off loopback without a token is refused at start") {
  TempDir dir;
  const auto ran = run_command({flow_binary(), "run", "--listen", "127.0.0.1:0", "--admin",
                                "0.0.0.0:0", "--port-file", dir.file("port")},
                               std::chrono::seconds(10));
  CHECK(ran.status.code == 2);
  CHECK(ran.err.find("refusing to serve the admin API on 0.0.0.0:0 without a token") !=
        std::string::npos);
  CHECK_FALSE(read_port_file(dir.file("port")).has_value());
}

TEST_CASE("an admin token file that group or others can read is refused at start") {
  TempDir dir;
  const std::string token_file = dir.file("admin.token");
  write_text_file(token_file, std::string(kToken) + "\n");
  ::chmod(token_file.c_str(), 0644);
  const std::string config = dir.file("flow.yaml");
  write_text_file(config, "version: 1\nadmin:\n  listen: 127.0.0.1:0\n  token_file: admin.token\n");
  const auto ran = run_command({flow_binary(), "run", "-c", config, "--listen", "127.0.0.1:0"},
                               std::chrono::seconds(10));
  CHECK(ran.status.code == 2);
  CHECK(ran.err.find("admin.token_file " + token_file + ": permissions 0644") != std::string::npos);
  CHECK(ran.err.find(kToken) == std::string::npos);

  // The same file, owner-only: the token guards a listener off loopback.
  ::chmod(token_file.c_str(), 0600);
  ProxyProcess proxy(
      {"-c", config, "--admin", "0.0.0.0:0", "--admin-port-file", dir.file("admin-port")});
  const auto port = read_port_file(dir.file("admin-port"));
  REQUIRE(port.has_value());
  const std::string authority = "127.0.0.1:" + std::to_string(*port);
  CHECK(get_via_proxy(*port, authority, "/metrics").status == 401);
  CHECK(get_via_proxy(*port, authority, "/metrics", bearer(kToken)).status == 200);
}

TEST_CASE("metrics after proxied traffic parse strictly and count what was sent") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "hello"); });
  ProxyProcess proxy;
  constexpr int kRequests = 5;
  for (int i = 0; i < kRequests; ++i) {
    CHECK(get_via_proxy(proxy.port(), origin.authority(), "/item").status == 200);
  }
  // An origin that is not there: counted by its reason.
  const std::string closed = "127.0.0.1:" + std::to_string(closed_loopback_port());
  const auto unreachable = get_via_proxy(proxy.port(), closed, "/");
  CHECK(unreachable.status == 502);

  const auto metrics = admin_get(proxy, "/metrics");
  REQUIRE(metrics.status == 200);
  const auto samples = parse_metrics(metrics.body);
  INFO(metrics.body);
  CHECK(samples["flow402_exchanges_total"] == kRequests + 1);
  CHECK(samples["flow402_connections_accepted_total"] == kRequests + 1);
  // The origin's "hello" five times, and the proxy's own 502 body.
  CHECK(samples["flow402_response_body_bytes_total"] ==
        kRequests * 5 + static_cast<int>(unreachable.body.size()));
  CHECK(samples["flow402_errors_total{reason=upstream_unreachable}"] == 1);
  CHECK(samples["flow402_errors_total{reason=upstream_timeout}"] == 0);
  CHECK(samples["flow402_payments_total{outcome=settled}"] == 0);
  CHECK(samples["flow402_tls_handshakes_total{side=client}"] == 0);
}

TEST_CASE("a paid exchange shows in the payment metrics and the ledger commit histogram") {
  MerchantProcess merchant;
  PaidProxy paid;
  const auto answer = get_via_proxy(paid.port(), merchant.authority(), "/v2/weather");
  REQUIRE(answer.status == 200);

  const auto ready = admin_get(paid.process(), "/readyz");
  CHECK(ready.status == 200);
  const auto metrics = admin_get(paid.process(), "/metrics");
  REQUIRE(metrics.status == 200);
  const auto samples = parse_metrics(metrics.body);
  INFO(metrics.body);
  CHECK(samples["flow402_payment_challenges_total"] == 1);
  CHECK(samples["flow402_payment_credentials_sent_total"] == 1);
  CHECK(samples["flow402_payments_total{outcome=settled}"] == 1);
  CHECK(samples["flow402_payments_total{outcome=failed}"] == 0);
  CHECK(samples["flow402_ledger_commit_duration_seconds_count"].get<double>() >= 1);
  CHECK(samples["flow402_ledger_commit_duration_seconds_bucket{le=+Inf}"] ==
        samples["flow402_ledger_commit_duration_seconds_count"]);
  CHECK(samples["flow402_ledger_commit_duration_seconds_sum"].get<double>() > 0);
}
