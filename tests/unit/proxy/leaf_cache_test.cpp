// The leaf cache: hits sign nothing, least recently used leaves go first, leaves near expiry are
// minted again, and a cached context serves a real TLS handshake chosen by SNI.
#include "flow/proxy/network/leaf_cache.hpp"

#include <doctest/doctest.h>
#include <openssl/err.h>

#include <cstring>
#include <string>

#include "support/temp_dir.hpp"

using flow::proxy::CertAuthority;
using flow::proxy::LeafCache;
using flow::proxy::LeafError;
using flow::proxy::ServerLeaf;
using flow::testing::TempDir;

namespace {

using Leaf = std::shared_ptr<const ServerLeaf>;

Leaf must_get(LeafCache& cache, std::string_view name) {
  auto got = cache.get(name);
  REQUIRE(std::holds_alternative<Leaf>(got));
  return std::get<Leaf>(got);
}

struct CaFixture {
  TempDir tmp;
  CertAuthority ca = CertAuthority::create(tmp.file("ca"), false);
};

// ALPN selection the way an interception server does it: http/1.1 only.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// The SNI callback of a server that intercepts: the cache's context for the name the client
// sent.
int switch_to_leaf(SSL* ssl, int*, void* arg) {
  auto* cache = static_cast<LeafCache*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_ALERT_FATAL;
  auto leaf = cache->get(name);
  if (!std::holds_alternative<Leaf>(leaf)) return SSL_TLSEXT_ERR_ALERT_FATAL;
  return std::get<Leaf>(leaf)->install(ssl) ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

// One TLS handshake through a BIO pair, client trusting only the CA and checking `host`.
// Returns the ALPN protocol the server chose, or "failed".
std::string handshake(const CertAuthority& ca, LeafCache& cache, const char* host) {
  flow::proxy::SslCtxPtr server_ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_alpn_select_cb(server_ctx.get(), select_http11, nullptr);
  // SSL_CTX_set_tlsext_servername_callback and _arg, without their C-style casts.
  SSL_CTX_callback_ctrl(server_ctx.get(), SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                        reinterpret_cast<void (*)()>(switch_to_leaf));
  SSL_CTX_ctrl(server_ctx.get(), SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, &cache);
  flow::proxy::SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
  X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx.get()), ca.certificate());
  SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_PEER, nullptr);
  static const unsigned char kOffer[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(client_ctx.get(), kOffer, sizeof kOffer);

  flow::proxy::SslPtr server(SSL_new(server_ctx.get()));
  flow::proxy::SslPtr client(SSL_new(client_ctx.get()));
  BIO* server_bio = nullptr;
  BIO* client_bio = nullptr;
  REQUIRE(BIO_new_bio_pair(&server_bio, 0, &client_bio, 0) == 1);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_accept_state(server.get());
  SSL_set_connect_state(client.get());
  std::string sni(host);  // SSL_set_tlsext_host_name, without its C-style cast
  SSL_ctrl(client.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, sni.data());
  SSL_set1_host(client.get(), host);

  bool server_done = false;
  bool client_done = false;
  for (int round = 0; round < 20 && !(server_done && client_done); ++round) {
    if (!client_done) {
      const int rc = SSL_do_handshake(client.get());
      client_done = rc == 1;
      if (rc <= 0 && SSL_get_error(client.get(), rc) != SSL_ERROR_WANT_READ) break;
    }
    if (!server_done) {
      const int rc = SSL_do_handshake(server.get());
      server_done = rc == 1;
      if (rc <= 0 && SSL_get_error(server.get(), rc) != SSL_ERROR_WANT_READ) break;
    }
  }
  ERR_clear_error();
  if (!server_done || !client_done || SSL_get_verify_result(client.get()) != X509_V_OK) {
    return "failed";
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(client.get(), &alpn, &alpn_len);
  return std::string(reinterpret_cast<const char*>(alpn), alpn_len);
}

}  // namespace

TEST_CASE("a second request for a host is a hit: the same leaf, nothing signed") {
  CaFixture f;
  LeafCache cache(f.ca);
  const Leaf first = must_get(cache, "api.example.com");
  const Leaf second = must_get(cache, "API.example.com.");
  CHECK(first == second);
  CHECK(first->name == "api.example.com");
  CHECK(cache.stats().misses == 1);
  CHECK(cache.stats().hits == 1);
  CHECK(cache.size() == 1);
  CHECK(X509_check_private_key(first->certificate.get(), first->key.get()) == 1);
  REQUIRE(sk_X509_num(first->chain.get()) == 1);
  CHECK(X509_cmp(sk_X509_value(first->chain.get(), 0), f.ca.certificate()) == 0);
  CHECK(first->not_after > std::time(nullptr) + 300L * 86400);
}

TEST_CASE("the least recently used leaf is evicted first, and counted") {
  CaFixture f;
  LeafCache::Options options;
  options.capacity = 2;
  LeafCache cache(f.ca, options);
  CHECK(cache.capacity() == 2);
  const Leaf a = must_get(cache, "a.example");
  must_get(cache, "b.example");
  must_get(cache, "a.example");  // a is now more recent than b
  must_get(cache, "c.example");  // evicts b
  CHECK(cache.contains("a.example"));
  CHECK_FALSE(cache.contains("b.example"));
  CHECK(cache.contains("c.example"));
  CHECK(cache.size() == 2);
  CHECK(cache.stats().evictions == 1);
  must_get(cache, "d.example");  // evicts a
  CHECK_FALSE(cache.contains("a.example"));
  CHECK(cache.stats().evictions == 2);
  // An evicted leaf still held by a handshake stays usable; coming back mints a new one.
  CHECK(a->certificate);
  const Leaf a_again = must_get(cache, "a.example");
  CHECK(a_again != a);
  CHECK(cache.stats().hits == 1);
  CHECK(cache.stats().misses == 5);
  CHECK(cache.stats().evictions == 3);
}

TEST_CASE("an invalid name is refused without counting as a hit or a miss") {
  CaFixture f;
  LeafCache cache(f.ca);
  const auto got = cache.get("*.example.com");
  REQUIRE(std::holds_alternative<LeafError>(got));
  CHECK(std::get<LeafError>(got) == LeafError::invalid_name);
  CHECK(cache.stats().hits + cache.stats().misses == 0);
  CHECK(cache.size() == 0);
}

TEST_CASE("a cached leaf a day from expiry is minted again") {
  CaFixture f;
  std::time_t now = std::time(nullptr);
  LeafCache::Options options;
  options.clock = [&] { return now; };
  LeafCache cache(f.ca, options);
  const Leaf first = must_get(cache, "renew.example");
  now = first->not_after - 2 * LeafCache::kRenewBefore;
  CHECK(must_get(cache, "renew.example") == first);
  now = first->not_after - LeafCache::kRenewBefore / 2;
  const Leaf renewed = must_get(cache, "renew.example");
  CHECK(renewed != first);
  CHECK(renewed->not_after > first->not_after);
  CHECK(cache.stats().renewals == 1);
  CHECK(cache.size() == 1);
}

TEST_CASE("a cached context serves a TLS handshake chosen by SNI, verified against the CA") {
  CaFixture f;
  LeafCache cache(f.ca);
  CHECK(handshake(f.ca, cache, "shop.example") == "http/1.1");
  CHECK(handshake(f.ca, cache, "shop.example") == "http/1.1");
  CHECK(cache.stats().misses == 1);
  CHECK(cache.stats().hits == 1);
  CHECK(handshake(f.ca, cache, "other.example") == "http/1.1");
  CHECK(cache.stats().misses == 2);

  // A client that trusts another CA fails its handshake.
  TempDir other;
  const CertAuthority stranger = CertAuthority::create(other.file("ca"), false);
  CHECK(handshake(stranger, cache, "shop.example") == "failed");
}
