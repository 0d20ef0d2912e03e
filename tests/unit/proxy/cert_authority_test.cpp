// The local CA: files and permissions, reloading, refusals, and leaves that verify with
// OpenSSL's own chain and name checks.
#include "flow/proxy/network/cert_authority.hpp"

#include <doctest/doctest.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "support/temp_dir.hpp"

using flow::proxy::CaError;
using flow::proxy::CertAuthority;
using flow::proxy::LeafError;
using flow::proxy::LeafName;
using flow::proxy::X509Ptr;
using flow::testing::TempDir;
namespace fs = std::filesystem;

namespace {

int mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

std::string load_error(const std::string& dir) {
  try {
    CertAuthority::load(dir);
  } catch (const CaError& e) {
    return e.what();
  }
  return "";
}

X509Ptr leaf_for(const CertAuthority& ca, std::string_view name) {
  auto minted = ca.mint_leaf(name);
  REQUIRE(std::holds_alternative<X509Ptr>(minted));
  return std::move(std::get<X509Ptr>(minted));
}

// X509_verify_cert with the CA as the only trust anchor, for a TLS server named `host` (or the
// IP `ip`; neither: the chain alone, for any purpose). X509_V_OK when the chain and name are good.
int verify_leaf(X509* ca, X509* leaf, const char* host, const char* ip = nullptr) {
  flow::proxy::X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  flow::proxy::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) == 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (host != nullptr || ip != nullptr)
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (host != nullptr) X509_VERIFY_PARAM_set1_host(param, host, 0);
  if (ip != nullptr) X509_VERIFY_PARAM_set1_ip_asc(param, ip);
  const int ok = X509_verify_cert(ctx.get());
  const int error = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (error == X509_V_OK ? -1 : error);
}

std::time_t asn1_unix(const ASN1_TIME* t) {
  struct tm parts {};
  REQUIRE(ASN1_TIME_to_tm(t, &parts) == 1);
  return ::timegm(&parts);
}

// Writes `cert` and `key` as a CA directory would hold them.
void write_pair(const std::string& dir, X509* cert, EVP_PKEY* key) {
  fs::create_directories(dir);
  FILE* c = std::fopen((dir + "/ca.pem").c_str(), "w");
  REQUIRE(c != nullptr);
  PEM_write_X509(c, cert);
  std::fclose(c);
  FILE* k = std::fopen((dir + "/ca.key").c_str(), "w");
  REQUIRE(k != nullptr);
  PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(k);
  fs::permissions(dir + "/ca.key", fs::perms::owner_read | fs::perms::owner_write);
}

}  // namespace

TEST_CASE("a new CA is a P-256 CA with pathlen 0, keyCertSign and key ids, its key owner-only") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  const std::time_t before = std::time(nullptr);
  const CertAuthority ca = CertAuthority::create(dir, false);
  CHECK(mode_of(dir + "/ca.key") == 0600);
  CHECK(mode_of(dir + "/ca.pem") == 0644);
  CHECK(mode_of(dir) == 0700);
  X509* cert = ca.certificate();
  CHECK((X509_get_extension_flags(cert) & EXFLAG_CA) != 0);
  CHECK(X509_get_pathlen(cert) == 0);
  CHECK((X509_get_key_usage(cert) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ==
        (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK((X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0);
  REQUIRE(X509_get0_subject_key_id(cert) != nullptr);
  REQUIRE(X509_get0_authority_key_id(cert) != nullptr);
  CHECK(ASN1_STRING_cmp(X509_get0_subject_key_id(cert), X509_get0_authority_key_id(cert)) == 0);
  // Basic constraints and key usage are critical.
  CHECK(X509_EXTENSION_get_critical(
            X509_get_ext(cert, X509_get_ext_by_NID(cert, NID_basic_constraints, -1))) == 1);
  CHECK(X509_EXTENSION_get_critical(
            X509_get_ext(cert, X509_get_ext_by_NID(cert, NID_key_usage, -1))) == 1);
  char curve[64] = {};
  size_t len = 0;
  REQUIRE(EVP_PKEY_get_utf8_string_param(X509_get0_pubkey(cert), "group", curve, sizeof curve,
                                         &len) == 1);
  CHECK(std::string(curve) == "prime256v1");
  // A random 128-bit serial, positive.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  CHECK(ASN1_STRING_length(serial) == 16);
  CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER);
  // Valid from before now (clock skew) for about ten years.
  const std::time_t nb = asn1_unix(X509_get0_notBefore(cert));
  const std::time_t na = asn1_unix(X509_get0_notAfter(cert));
  CHECK(nb <= before - 3000);
  CHECK(na - nb > 9L * 365 * 86400);
  // The subject says what it is.
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  CHECK(std::string(cn).starts_with("402flow local CA ("));
  // Self-signed: it verifies against itself as a trust anchor.
  CHECK(verify_leaf(cert, cert, nullptr) == X509_V_OK);
  // Nothing but the two files is left in the directory.
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    static_cast<void>(entry);
    ++files;
  }
  CHECK(files == 2);
}

TEST_CASE("the CA key is 0600 even under a umask that lets everyone read") {
  TempDir tmp;
  const mode_t old = ::umask(0);
  CertAuthority::create(tmp.file("ca"), false);
  ::umask(old);
  CHECK(mode_of(tmp.file("ca") + "/ca.key") == 0600);
}

TEST_CASE("a CA is never overwritten unless forced, and forcing makes a new one") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  const std::string first = CertAuthority::create(dir, false).fingerprint_sha256();
  std::string error;
  try {
    CertAuthority::create(dir, false);
  } catch (const CaError& e) {
    error = e.what();
  }
  CHECK(error.find("already holds a CA") != std::string::npos);
  CHECK(error.find("--force") != std::string::npos);
  CHECK(CertAuthority::load(dir).fingerprint_sha256() == first);

  // A lone key (half a CA) is refused too.
  const std::string half = tmp.file("half");
  fs::create_directories(half);
  std::FILE* f = std::fopen((half + "/ca.key").c_str(), "w");
  std::fclose(f);
  CHECK_THROWS_AS(CertAuthority::create(half, false), CaError);

  const std::string second = CertAuthority::create(dir, true).fingerprint_sha256();
  CHECK(second != first);
  CHECK(CertAuthority::load(dir).fingerprint_sha256() == second);
  CHECK(mode_of(dir + "/ca.key") == 0600);
}

TEST_CASE("a CA reloaded from disk is the same CA and signs leaves its certificate verifies") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  const CertAuthority created = CertAuthority::create(dir, false);
  const CertAuthority loaded = CertAuthority::load(dir);
  CHECK(loaded.fingerprint_sha256() == created.fingerprint_sha256());
  CHECK(loaded.fingerprint_sha256().size() == 32 * 3 - 1);
  const X509Ptr leaf = leaf_for(loaded, "api.example.com");
  CHECK(verify_leaf(created.certificate(), leaf.get(), "api.example.com") == X509_V_OK);
  // The PEM the CLI exports is the certificate itself.
  const std::string pem = loaded.certificate_pem();
  CHECK(pem.starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(pem == flow::proxy::certificate_pem(created.certificate()));
}

TEST_CASE("load refuses a CA key group or others may read, naming the path and the fix") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  CertAuthority::create(dir, false);
  for (const auto mode : {0640, 0604, 0644}) {
    CAPTURE(mode);
    ::chmod((dir + "/ca.key").c_str(), static_cast<mode_t>(mode));
    const std::string error = load_error(dir);
    CHECK(error.find(dir + "/ca.key") != std::string::npos);
    CHECK(error.find("chmod 600 " + dir + "/ca.key") != std::string::npos);
  }
  ::chmod((dir + "/ca.key").c_str(), 0400);
  CHECK(load_error(dir).empty());
}

TEST_CASE("load names a missing file and how to create the CA") {
  TempDir tmp;
  const std::string error = load_error(tmp.file("nothing"));
  CHECK(error.find(tmp.file("nothing") + "/ca.pem") != std::string::npos);
  CHECK(error.find("402flow ca init") != std::string::npos);

  const std::string dir = tmp.file("ca");
  CertAuthority::create(dir, false);
  fs::remove(dir + "/ca.key");
  CHECK(load_error(dir).find(dir + "/ca.key") != std::string::npos);
}

TEST_CASE("load refuses a key that is not the certificate's, and a certificate that is no CA") {
  TempDir tmp;
  const std::string a = tmp.file("a");
  const std::string b = tmp.file("b");
  CertAuthority::create(a, false);
  CertAuthority::create(b, false);
  fs::copy_file(b + "/ca.key", a + "/ca.key", fs::copy_options::overwrite_existing);
  CHECK(load_error(a).find("is not the key of") != std::string::npos);

  // A leaf with its own key looks like a CA directory but cannot sign certificates.
  const CertAuthority ca = CertAuthority::load(b);
  const X509Ptr leaf = leaf_for(ca, "host.example");
  const std::string not_ca = tmp.file("leaf");
  write_pair(not_ca, leaf.get(), ca.leaf_key());
  CHECK(load_error(not_ca).find("not a CA certificate") != std::string::npos);

  std::FILE* junk = std::fopen((a + "/ca.pem").c_str(), "w");
  std::fputs("not a certificate\n", junk);
  std::fclose(junk);
  CHECK(load_error(a).find("no PEM certificate") != std::string::npos);
}

TEST_CASE("a DNS leaf is a serverAuth certificate for that name only") {
  TempDir tmp;
  const CertAuthority ca = CertAuthority::create(tmp.file("ca"), false);
  const X509Ptr leaf = leaf_for(ca, "API.Example.com.");
  X509* l = leaf.get();
  CHECK(verify_leaf(ca.certificate(), l, "api.example.com") == X509_V_OK);
  CHECK(verify_leaf(ca.certificate(), l, "other.example.com") == X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(verify_leaf(ca.certificate(), l, nullptr, "127.0.0.1") == X509_V_ERR_IP_ADDRESS_MISMATCH);
  CHECK((X509_get_extension_flags(l) & EXFLAG_CA) == 0);
  CHECK((X509_get_extended_key_usage(l) & XKU_SSL_SERVER) != 0);
  CHECK((X509_get_key_usage(l) & KU_DIGITAL_SIGNATURE) != 0);
  CHECK((X509_get_key_usage(l) & KU_KEY_CERT_SIGN) == 0);
  REQUIRE(X509_get0_authority_key_id(l) != nullptr);
  CHECK(ASN1_STRING_cmp(X509_get0_authority_key_id(l),
                        X509_get0_subject_key_id(ca.certificate())) == 0);
  CHECK(X509_check_issued(ca.certificate(), l) == X509_V_OK);
  // Valid from an hour ago (slow client clocks) for at most 397 days.
  const std::time_t now = std::time(nullptr);
  const std::time_t nb = asn1_unix(X509_get0_notBefore(l));
  const std::time_t na = asn1_unix(X509_get0_notAfter(l));
  CHECK(nb <= now - 3590);
  CHECK(nb >= now - 3700);
  CHECK(na - nb <= 398L * 86400);
  CHECK(na - now >= 396L * 86400);
}

TEST_CASE("an IP literal gets an IP SAN, IPv4 and IPv6") {
  TempDir tmp;
  const CertAuthority ca = CertAuthority::create(tmp.file("ca"), false);
  const X509Ptr v4 = leaf_for(ca, "127.0.0.1");
  CHECK(verify_leaf(ca.certificate(), v4.get(), nullptr, "127.0.0.1") == X509_V_OK);
  CHECK(verify_leaf(ca.certificate(), v4.get(), nullptr, "127.0.0.2") ==
        X509_V_ERR_IP_ADDRESS_MISMATCH);
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(v4.get(), NID_subject_alt_name, nullptr, nullptr));
  REQUIRE(sans != nullptr);
  CHECK(sk_GENERAL_NAME_num(sans) == 1);
  CHECK(sk_GENERAL_NAME_value(sans, 0)->type == GEN_IPADD);
  GENERAL_NAMES_free(sans);
  const X509Ptr v6 = leaf_for(ca, "[::1]");
  CHECK(verify_leaf(ca.certificate(), v6.get(), nullptr, "::1") == X509_V_OK);
  CHECK(verify_leaf(ca.certificate(), v6.get(), nullptr, "0:0:0:0:0:0:0:1") == X509_V_OK);
}

TEST_CASE("a name longer than a CN allows is in a critical SAN alone and still verifies") {
  TempDir tmp;
  const CertAuthority ca = CertAuthority::create(tmp.file("ca"), false);
  const std::string name = std::string(60, 'a') + "." + std::string(60, 'b') + ".example";
  const X509Ptr leaf = leaf_for(ca, name);
  CHECK(X509_NAME_entry_count(X509_get_subject_name(leaf.get())) == 0);
  const int at = X509_get_ext_by_NID(leaf.get(), NID_subject_alt_name, -1);
  REQUIRE(at >= 0);
  CHECK(X509_EXTENSION_get_critical(X509_get_ext(leaf.get(), at)) == 1);
  CHECK(verify_leaf(ca.certificate(), leaf.get(), name.c_str()) == X509_V_OK);
}

TEST_CASE("leaf names: DNS names and IP literals are accepted, garbage is refused") {
  using flow::proxy::parse_leaf_name;
  const auto dns = parse_leaf_name("API.Example.COM.");
  REQUIRE(dns);
  CHECK(dns->kind == LeafName::Kind::dns);
  CHECK(dns->text == "api.example.com");
  CHECK(parse_leaf_name("localhost")->text == "localhost");
  CHECK(parse_leaf_name("_dmarc.x-y.example")->kind == LeafName::Kind::dns);
  CHECK(parse_leaf_name("10.0.0.1")->kind == LeafName::Kind::ip);
  CHECK(parse_leaf_name("[2001:DB8::0001]")->text == "2001:db8::1");
  CHECK(parse_leaf_name("2001:db8::1")->kind == LeafName::Kind::ip);
  const std::string label63(63, 'a');
  CHECK(parse_leaf_name(label63 + ".example"));
  for (const std::string& bad :
       {std::string(""), std::string("."), std::string("*.example.com"), std::string("a b.com"),
        std::string("evil.com,DNS:bank.com"), std::string("a..b"), std::string("-a.com"),
        std::string("a-.com"), std::string("host:443"), std::string("ex\xc3\xa4mple.com"),
        std::string("a\0b", 3), label63 + "a.example", std::string("[::1"),
        std::string("[example.com]"), std::string(254, 'a'), std::string("/etc/passwd")}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_leaf_name(bad));
  }
  TempDir tmp;
  const CertAuthority ca = CertAuthority::create(tmp.file("ca"), false);
  const auto refused = ca.mint_leaf("evil.com,DNS:bank.com");
  REQUIRE(std::holds_alternative<LeafError>(refused));
  CHECK(std::get<LeafError>(refused) == LeafError::invalid_name);
  CHECK(flow::proxy::leaf_error_name(LeafError::invalid_name) == "invalid_name");
}

TEST_CASE("a leaf's validity is clamped inside the CA's, and an expired CA mints nothing") {
  TempDir tmp;
  const CertAuthority ca = CertAuthority::create(tmp.file("ca"), false);
  const LeafName name{LeafName::Kind::dns, "late.example"};
  const std::time_t late = ca.not_after() - 10 * 86400;
  auto minted = ca.mint_leaf(name, late);
  REQUIRE(std::holds_alternative<X509Ptr>(minted));
  CHECK(asn1_unix(X509_get0_notAfter(std::get<X509Ptr>(minted).get())) == ca.not_after());
  const auto expired = ca.mint_leaf(name, ca.not_after() + 1);
  REQUIRE(std::holds_alternative<LeafError>(expired));
  CHECK(std::get<LeafError>(expired) == LeafError::ca_not_valid);
  const auto early = ca.mint_leaf(name, std::time(nullptr) - 2 * 3600);
  REQUIRE(std::holds_alternative<LeafError>(early));
  CHECK(std::get<LeafError>(early) == LeafError::ca_not_valid);
}

TEST_CASE("every leaf of one CA instance carries the same key; each leaf has its own serial") {
  TempDir tmp;
  const std::string dir = tmp.file("ca");
  const CertAuthority ca = CertAuthority::create(dir, false);
  const X509Ptr a = leaf_for(ca, "a.example");
  const X509Ptr b = leaf_for(ca, "b.example");
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(a.get()), X509_get0_pubkey(b.get())) == 1);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(a.get()), ca.leaf_key()) == 1);
  CHECK(X509_check_private_key(a.get(), ca.leaf_key()) == 1);
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.get()), X509_get0_serialNumber(b.get())) != 0);
  // A CA loaded again (a new process) makes a new leaf key; the CA key itself is not a leaf key.
  const CertAuthority again = CertAuthority::load(dir);
  CHECK(EVP_PKEY_eq(again.leaf_key(), ca.leaf_key()) != 1);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(ca.certificate()), ca.leaf_key()) != 1);
}
