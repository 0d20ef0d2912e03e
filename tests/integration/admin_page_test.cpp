// What `402flow run` adds to the admin listener beyond the API: the dashboard's page and assets
// (served without the token, with their types and a strict content security policy, while the
// data stays behind it), and the start-up checks of admin.webhook (its URL, its secret file).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/child_process.hpp"
#include "support/paid_proxy.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"

using namespace flow::testing;

namespace {

constexpr const char* kToken = "s3cret-admin-token-0123456789";
constexpr const char* kSecret = "webhook-secret-0123456789";

HttpResponse admin_request(const ProxyProcess& proxy, std::string_view path,
                           std::string_view extra_headers = {}) {
  REQUIRE(proxy.admin_port() != 0);
  const std::string authority = "127.0.0.1:" + std::to_string(proxy.admin_port());
  return get_via_proxy(proxy.admin_port(), authority, path, extra_headers);
}

// `402flow run -c flow.yaml` that must refuse to start with `code` (1: flow.yaml does not load;
// 2: the start-up check refuses it); its stderr.
std::string refused_start(const TempDir& dir, const std::string& yaml, int code) {
  const std::string config = dir.file("flow.yaml");
  write_text_file(config, yaml);
  const auto ran = run_command({flow_binary(), "run", "-c", config, "--listen", "127.0.0.1:0",
                                "--admin", "127.0.0.1:0", "--port-file", dir.file("port")},
                               std::chrono::seconds(10));
  CHECK(ran.status.code == code);
  CHECK_FALSE(read_port_file(dir.file("port")).has_value());
  return ran.err;
}

// True once the proxy's diagnostics hold `text` (they are flushed within a fraction of a second).
bool wait_for_stderr(const ProxyProcess& proxy, std::string_view text) {
  const auto deadline = deadline_in(std::chrono::seconds(10));
  while (Clock::now() < deadline) {
    if (proxy.stderr_text().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_CASE("the dashboard is served without the token; its data calls are not") {
  ProxyProcess proxy({}, {std::string("FLOW402_ADMIN_TOKEN=") + kToken});
  const auto page = admin_request(proxy, "/");
  CHECK(page.status == 200);
  CHECK(page.header("content-type") == "text/html; charset=utf-8");
  CHECK(page.body.find("<title>402flow</title>") != std::string::npos);
  CHECK(page.body.find("/ui/app.js") != std::string::npos);
  const std::string csp = page.header("content-security-policy").value_or("");
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("connect-src 'self'") != std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(page.header("x-content-type-options") == "nosniff");

  const auto js = admin_request(proxy, "/ui/app.js");
  CHECK(js.status == 200);
  CHECK(js.header("content-type") == "text/javascript; charset=utf-8");
  CHECK(js.body.find("Authorization") != std::string::npos);
  const auto css = admin_request(proxy, "/ui/app.css");
  CHECK(css.status == 200);
  CHECK(css.header("content-type") == "text/css; charset=utf-8");
  CHECK(admin_request(proxy, "/ui/missing.js").status == 404);

  // The data the page reads stays behind the token.
  CHECK(admin_request(proxy, "/v1/receipts").status == 401);
  CHECK(admin_request(proxy, "/metrics").status == 401);
  CHECK(admin_request(proxy, "/metrics", "Authorization: Bearer " + std::string(kToken) + "\r\n")
            .status == 200);
}

TEST_CASE("admin.webhook: its secret file must be owner-only and its URL http://") {
  TempDir dir;
  const std::string secret_file = dir.file("webhook.secret");
  write_text_file(secret_file, std::string(kSecret) + "\n");
  const std::string webhook =
      "version: 1\nadmin:\n  webhook:\n    url: http://127.0.0.1:9/hook\n    secret_file: "
      "webhook.secret\n";

  SUBCASE("readable by others: refused, naming the file and its mode, never the secret") {
    ::chmod(secret_file.c_str(), 0644);
    const std::string err = refused_start(dir, webhook, 2);
    CHECK(err.find("admin.webhook.secret_file " + secret_file + ": permissions 0644") !=
          std::string::npos);
    CHECK(err.find(kSecret) == std::string::npos);
  }
  SUBCASE("https:// is refused at load, naming the line") {
    ::chmod(secret_file.c_str(), 0600);
    const std::string err = refused_start(
        dir,
        "version: 1\nadmin:\n  webhook:\n    url: https://127.0.0.1/hook\n    secret_file: "
        "webhook.secret\n",
        1);
    CHECK(err.find("flow.yaml:4") != std::string::npos);
    CHECK(err.find("admin.webhook.url must be an http:// URL") != std::string::npos);
  }
  SUBCASE("a missing secret_file is refused") {
    const std::string err =
        refused_start(dir, "version: 1\nadmin:\n  webhook:\n    url: http://127.0.0.1/hook\n", 1);
    CHECK(err.find("admin.webhook needs secret_file") != std::string::npos);
  }
  SUBCASE("an empty secret file is refused") {
    write_text_file(secret_file, "\n");
    ::chmod(secret_file.c_str(), 0600);
    const std::string err = refused_start(dir, webhook, 2);
    CHECK(err.find("the file is empty") != std::string::npos);
  }
  SUBCASE("owner-only, without a wallet: the proxy starts and says the webhook has nothing to do") {
    ::chmod(secret_file.c_str(), 0600);
    const std::string config = dir.file("flow.yaml");
    write_text_file(config, webhook);
    ProxyProcess proxy({"-c", config});
    CHECK(wait_for_stderr(proxy, "approval webhook not started"));
    CHECK(proxy.stderr_text().find(kSecret) == std::string::npos);
  }
}
