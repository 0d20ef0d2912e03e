// `402flow ca init`, `ca export` and `ca bundle` as the real binary: the files, their modes, the
// refusal to overwrite, usage errors, and what the openssl command-line tool says of the result.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"

using namespace flow::testing;
namespace fs = std::filesystem;

namespace {

CommandResult run_flow(std::vector<std::string> args) {
  args.insert(args.begin(), flow_binary());
  return run_command(args, std::chrono::seconds(20));
}

int mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// "SHA-256 fingerprint: AB:CD:..." from ca init's output.
std::string printed_fingerprint(const std::string& out) {
  const std::string label = "SHA-256 fingerprint: ";
  const auto at = out.find(label);
  REQUIRE(at != std::string::npos);
  return out.substr(at + label.size(), out.find('\n', at) - at - label.size());
}

// The openssl tool, or empty with a printed note (the checks that need it are skipped).
std::string openssl_tool() {
  const std::string openssl = find_executable("openssl");
  if (openssl.empty()) MESSAGE("openssl command-line tool not found: its checks are skipped");
  return openssl;
}

}  // namespace

TEST_CASE("ca init writes the CA and an owner-only key, and says how to trust it") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  const auto made = run_flow({"ca", "init", "--dir", dir});
  REQUIRE_MESSAGE(made.status.code == 0, made.err);
  CHECK(mode_of(dir + "/ca.key") == 0600);
  CHECK(mode_of(dir + "/ca.pem") == 0644);
  CHECK(made.out.find("wrote " + dir + "/ca.pem") != std::string::npos);
  CHECK(made.out.find("wrote " + dir + "/ca.key") != std::string::npos);
  for (const char* variable :
       {"SSL_CERT_FILE=", "REQUESTS_CA_BUNDLE=", "CURL_CA_BUNDLE=", "NODE_EXTRA_CA_CERTS="}) {
    CHECK(made.out.find(variable) != std::string::npos);
  }
  CHECK(made.out.find("NODE_EXTRA_CA_CERTS=" + dir + "/ca.pem") != std::string::npos);
  CHECK(made.out.find("402flow ca bundle --dir " + dir) != std::string::npos);
  const std::string fingerprint = printed_fingerprint(made.out);
  CHECK(fingerprint.size() == 95);
  // The key is never printed.
  CHECK(made.out.find("PRIVATE KEY") == std::string::npos);

  if (const std::string openssl = openssl_tool(); !openssl.empty()) {
    const auto self = run_command({openssl, "verify", "-CAfile", dir + "/ca.pem", dir + "/ca.pem"},
                                  std::chrono::seconds(10));
    CHECK_MESSAGE(self.status.code == 0, self.out << self.err);
    const auto fp =
        run_command({openssl, "x509", "-in", dir + "/ca.pem", "-noout", "-fingerprint", "-sha256"},
                    std::chrono::seconds(10));
    CHECK(fp.out.find(fingerprint) != std::string::npos);
    const auto text = run_command({openssl, "x509", "-in", dir + "/ca.pem", "-noout", "-text"},
                                  std::chrono::seconds(10));
    CHECK(text.out.find("CA:TRUE, pathlen:0") != std::string::npos);
    CHECK(text.out.find("Certificate Sign, CRL Sign") != std::string::npos);
    CHECK(text.out.find("prime256v1") != std::string::npos);
    const auto key = run_command({openssl, "pkey", "-in", dir + "/ca.key", "-noout", "-check"},
                                 std::chrono::seconds(10));
    CHECK_MESSAGE(key.status.code == 0, key.out << key.err);
  }
}

TEST_CASE("ca init never overwrites a CA unless --force, which makes a new one") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  const auto first = run_flow({"ca", "init", "--dir", dir});
  REQUIRE(first.status.code == 0);
  const std::string pem = read_file(dir + "/ca.pem");
  const std::string key = read_file(dir + "/ca.key");

  const auto again = run_flow({"ca", "init", "--dir", dir});
  CHECK(again.status.code == 1);
  CHECK(again.err.find("already holds a CA") != std::string::npos);
  CHECK(again.err.find("--force") != std::string::npos);
  CHECK(read_file(dir + "/ca.pem") == pem);
  CHECK(read_file(dir + "/ca.key") == key);

  const auto forced = run_flow({"ca", "init", "--dir", dir, "--force"});
  REQUIRE(forced.status.code == 0);
  CHECK(read_file(dir + "/ca.pem") != pem);
  CHECK(read_file(dir + "/ca.key") != key);
  CHECK(mode_of(dir + "/ca.key") == 0600);
  CHECK(printed_fingerprint(forced.out) != printed_fingerprint(first.out));
}

TEST_CASE("ca export prints the certificate, and nothing of the key") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  REQUIRE(run_flow({"ca", "init", "--dir", dir}).status.code == 0);
  const auto exported = run_flow({"ca", "export", "--dir", dir});
  REQUIRE(exported.status.code == 0);
  CHECK(exported.out == read_file(dir + "/ca.pem"));
  CHECK(exported.out.find("PRIVATE") == std::string::npos);

  const auto missing = run_flow({"ca", "export", "--dir", tmp.file("none")});
  CHECK(missing.status.code == 1);
  CHECK(missing.err.find(tmp.file("none") + "/ca.pem") != std::string::npos);
  CHECK(missing.err.find("402flow ca init") != std::string::npos);
}

TEST_CASE("ca bundle writes the system roots plus the CA, once") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  REQUIRE(run_flow({"ca", "init", "--dir", dir}).status.code == 0);
  // Roots of our own: another CA's certificate stands for the system store.
  REQUIRE(run_flow({"ca", "init", "--dir", tmp.file("other")}).status.code == 0);
  const std::string roots = read_file(tmp.file("other") + "/ca.pem");
  const std::string ca_pem = read_file(dir + "/ca.pem");

  const std::string bundle = tmp.file("bundle.pem");
  const auto made = run_flow({"ca", "bundle", "--dir", dir, "--out", bundle, "--system-roots",
                              tmp.file("other") + "/ca.pem"});
  REQUIRE_MESSAGE(made.status.code == 0, made.err);
  const std::string text = read_file(bundle);
  CHECK(text.starts_with(roots));
  CHECK(text.ends_with(ca_pem));
  CHECK(count_of(text, "-----BEGIN CERTIFICATE-----") == 2);
  CHECK(made.out.find("2 certificates") != std::string::npos);

  // A bundle given as its own roots gains nothing twice.
  const std::string copy = tmp.file("again.pem");
  const auto again =
      run_flow({"ca", "bundle", "--dir", dir, "--out", copy, "--system-roots", bundle});
  REQUIRE(again.status.code == 0);
  CHECK(read_file(copy) == text);
  CHECK(again.out.find("already among them") != std::string::npos);

  if (const std::string openssl = openssl_tool(); !openssl.empty()) {
    // The bundle is a trust store that holds the CA.
    const auto verify = run_command({openssl, "verify", "-CAfile", bundle, dir + "/ca.pem"},
                                    std::chrono::seconds(10));
    CHECK_MESSAGE(verify.status.code == 0, verify.out << verify.err);
  }

  const auto bad_roots = run_flow({"ca", "bundle", "--dir", dir, "--out", tmp.file("x.pem"),
                                   "--system-roots", tmp.file("no-such.pem")});
  CHECK(bad_roots.status.code == 1);
  CHECK(bad_roots.err.find("no-such.pem") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.file("x.pem")));
}

TEST_CASE("ca bundle finds the system roots by itself where the machine has them") {
  const std::string system = "/etc/ssl/certs/ca-certificates.crt";
  if (!fs::exists(system)) {
    MESSAGE("no " << system << " on this machine: skipped");
    return;
  }
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  REQUIRE(run_flow({"ca", "init", "--dir", dir}).status.code == 0);
  const std::string bundle = tmp.file("bundle.pem");
  const auto made = run_command({flow_binary(), "ca", "bundle", "--dir", dir, "--out", bundle},
                                std::chrono::seconds(20), {"SSL_CERT_FILE=" + system});
  REQUIRE_MESSAGE(made.status.code == 0, made.err);
  const std::string text = read_file(bundle);
  const std::size_t system_count = count_of(read_file(system), "-----BEGIN CERTIFICATE-----");
  CHECK(count_of(text, "-----BEGIN CERTIFICATE-----") == system_count + 1);
  CHECK(text.ends_with(read_file(dir + "/ca.pem")));
}

TEST_CASE("ca usage errors exit 2 and name the option") {
  TempDir tmp;
  struct Case {
    std::vector<std::string> args;
    const char* names;
  };
  const std::vector<Case> cases = {
      {{"ca", "init"}, "--dir"},
      {{"ca", "export"}, "--dir"},
      {{"ca", "bundle", "--dir", tmp.file("ca")}, "--out"},
      {{"ca", "bundle", "--out", tmp.file("b.pem")}, "--dir"},
      {{"ca", "init", "--dir", tmp.file("ca"), "--bogus"}, "--bogus"},
      {{"ca"}, "subcommand"},
  };
  for (const auto& c : cases) {
    const auto result = run_flow(c.args);
    CAPTURE(result.err);
    CHECK(result.status.code == 2);
    CHECK(result.err.find(c.names) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(tmp.file("ca")));
  CHECK(run_flow({"ca", "init", "--help"}).status.code == 0);
}

TEST_CASE("check loads the CA tls.ca_dir names, and refuses one run could not use") {
  TempDir tmp;
  REQUIRE(run_flow({"ca", "init", "--dir", tmp.file("ca")}).status.code == 0);
  const std::string config = tmp.file("flow.yaml");
  // Relative to flow.yaml's folder, not to the working directory.
  write_text_file(config, "version: 1\ntls:\n  ca_dir: ca\n");
  const auto good = run_flow({"check", config});
  CHECK_MESSAGE(good.status.code == 0, good.err);
  CHECK(good.out.find(tmp.file("ca") + " (HTTPS interception on)") != std::string::npos);

  ::chmod(tmp.file("ca/ca.key").c_str(), 0644);
  const auto readable = run_flow({"check", config});
  CHECK(readable.status.code == 2);
  CHECK(readable.err.find("tls.ca_dir: " + tmp.file("ca/ca.key")) != std::string::npos);
  CHECK(readable.err.find("chmod 600") != std::string::npos);
  ::chmod(tmp.file("ca/ca.key").c_str(), 0600);

  write_text_file(config, "version: 1\ntls:\n  ca_dir: missing\n");
  const auto missing = run_flow({"check", config});
  CHECK(missing.status.code == 2);
  CHECK(missing.err.find("402flow ca init") != std::string::npos);

  write_text_file(config, "version: 1\ntls:\n  upstream_ca_file: flow.yaml\n");
  const auto not_pem = run_flow({"check", config});
  CHECK(not_pem.status.code == 2);
  CHECK(not_pem.err.find("tls.upstream_ca_file") != std::string::npos);

  write_text_file(config, "version: 1\ntls:\n  ca_dir: ca\n  upstream_ca_file: ca/ca.pem\n");
  CHECK(run_flow({"check", config}).status.code == 0);
}
