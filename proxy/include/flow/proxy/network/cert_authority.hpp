// The local certificate authority that interception presents to clients, and the leaf
// certificates it signs per host.
//
// DIR/ca.pem is the CA certificate (what clients are told to trust) and DIR/ca.key its private
// key (PKCS#8 PEM, mode 0600: never readable by group or others, not even while it is written).
// `402flow ca init` creates them; the proxy loads them.
//
// Leaves: every leaf a CertAuthority signs carries the same public key, generated once when the
// CertAuthority is created or loaded (mitmproxy does the same). A leaf therefore costs one ECDSA
// P-256 signature and no key generation: 70-90 µs in all on the reference machine, of which the
// signature is about 40 (bench/leaf_bench, bench/README.md "Leaf certificates"). That is short
// enough to mint synchronously on the loop thread at the first handshake to a host (less than a
// TLS handshake's own signature and key exchange), and LeafCache keeps the result so later
// handshakes to that host sign nothing. The leaf key lives only in memory and dies with the
// process.
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "flow/proxy/network/openssl_handles.hpp"

namespace flow::proxy {

// A CA that cannot be created or loaded (start-up only). The message names the file and the fix.
class CaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string ca_cert_path(const std::string& dir);  // DIR/ca.pem
std::string ca_key_path(const std::string& dir);   // DIR/ca.key

// The name a leaf is for: a DNS name (lower-cased, no trailing dot) or an IP literal (canonical
// text; "[::1]" is accepted and becomes "::1").
struct LeafName {
  enum class Kind { dns, ip };
  Kind kind = Kind::dns;
  std::string text;
};

// nullopt for anything that is neither a DNS name (labels of 1-63 of a-z 0-9 - _, at most 253
// characters in all) nor an IPv4/IPv6 literal: wildcards, spaces, commas, empty labels, ports.
std::optional<LeafName> parse_leaf_name(std::string_view name);

// Why a leaf could not be made. Names are stable (logs, metrics).
enum class LeafError {
  invalid_name,    // parse_leaf_name refused it
  ca_not_valid,    // the CA is expired (or not yet valid) at the time of minting
  signing_failed,  // OpenSSL failed (out of memory, say)
};
std::string_view leaf_error_name(LeafError error);

// A certificate as PEM text; its SHA-256 over the DER as "AB:CD:..." (what
// `openssl x509 -fingerprint -sha256` prints).
std::string certificate_pem(X509* cert);
std::string sha256_fingerprint(X509* cert);

// DIR/ca.pem alone, checked to be a CA certificate (for `402flow ca export` and `ca bundle`,
// which do not need the key). Throws CaError.
X509Ptr load_ca_certificate(const std::string& dir);

class CertAuthority {
 public:
  // A leaf is valid from an hour before it is minted (clients with a slow clock) for this many
  // days, clamped inside the CA's own validity. Below the 398 days browsers accept.
  static constexpr int kLeafValidityDays = 397;
  static constexpr int kCaValidityDays = 3650;

  // Creates DIR (0700) if missing and writes a new ECDSA P-256 CA into it. Refuses when DIR
  // already holds ca.pem or ca.key, unless `force`. Throws CaError.
  static CertAuthority create(const std::string& dir, bool force);
  // Reads DIR/ca.pem and DIR/ca.key. Refuses a key readable by group or others, a key that is
  // not the certificate's, a certificate that is not a CA or is outside its validity. Throws
  // CaError.
  static CertAuthority load(const std::string& dir);

  X509* certificate() const { return cert_.get(); }
  // The one key every leaf of this instance certifies (see the file comment).
  EVP_PKEY* leaf_key() const { return leaf_key_.get(); }
  const std::string& dir() const { return dir_; }
  std::string certificate_pem() const { return proxy::certificate_pem(cert_.get()); }
  std::string fingerprint_sha256() const { return sha256_fingerprint(cert_.get()); }
  std::time_t not_after() const { return not_after_; }

  // A leaf for `name` signed by this CA: SAN (DNS or IP), serverAuth, digitalSignature, the
  // CA's key id, a random serial. `now` is the minting time (tests pass their own).
  std::variant<X509Ptr, LeafError> mint_leaf(std::string_view name) const;
  std::variant<X509Ptr, LeafError> mint_leaf(const LeafName& name, std::time_t now) const;

 private:
  CertAuthority(std::string dir, X509Ptr cert, EvpPkeyPtr key);

  std::string dir_;
  X509Ptr cert_;
  EvpPkeyPtr key_;
  EvpPkeyPtr leaf_key_;
  std::time_t not_before_ = 0;
  std::time_t not_after_ = 0;
};

}  // namespace flow::proxy
