#include "flow/proxy/network/cert_authority.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace flow::proxy {
namespace {

constexpr long kHour = 3600;
constexpr long kDay = 24 * kHour;
constexpr std::size_t kMaxPemBytes = 64 * 1024;  // far more than a key or a certificate

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string mode_octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0%03o", static_cast<unsigned>(mode & 0777));
  return buf;
}

// Closes on every path out.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// ---- names -----------------------------------------------------------------------------------

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), is_label_char)) return false;
    start = dot + 1;
  }
  return true;
}

// The canonical text of an IP literal, or empty.
std::string canonical_ip(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return {};
  const std::string s(text);
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  if (::inet_pton(AF_INET, s.c_str(), bytes) == 1) {
    return ::inet_ntop(AF_INET, bytes, out, sizeof out) ? out : "";
  }
  if (::inet_pton(AF_INET6, s.c_str(), bytes) == 1) {
    return ::inet_ntop(AF_INET6, bytes, out, sizeof out) ? out : "";
  }
  return {};
}

// ---- time ------------------------------------------------------------------------------------

std::time_t asn1_time_to_unix(const ASN1_TIME* t) {
  struct tm parts {};
  if (ASN1_TIME_to_tm(t, &parts) != 1) return 0;
  return ::timegm(&parts);
}

// ---- building certificates -------------------------------------------------------------------

bool set_random_serial(X509* cert) {
  unsigned char bytes[16];  // 128 bits; the top bit cleared keeps the INTEGER positive, 16 bytes
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;
  bytes[0] |= 0x40;  // never a leading zero byte: always 16 bytes, never zero
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

// An extension from its OpenSSL config text; `issuer` supplies the authority key id.
bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0) == 1;
}

std::string ca_common_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::strcpy(host, "localhost");
  }
  std::string cn = "402flow local CA (" + std::string(host).substr(0, 40) + ")";
  return cn;  // at most 60 characters: within the 64 of a CN
}

// The SAN as a typed GENERAL_NAME, not config text: a name can never inject a second entry.
bool add_subject_alt_name(X509* cert, const LeafName& name, bool critical) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* entry = GENERAL_NAME_new();
  bool ok = names != nullptr && entry != nullptr;
  if (ok && name.kind == LeafName::Kind::ip) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.text.c_str());
    ok = ip != nullptr;
    if (ok) GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
  } else if (ok) {
    ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
    ok = dns != nullptr &&
         ASN1_STRING_set(dns, name.text.data(), static_cast<int>(name.text.size())) == 1;
    if (ok) {
      GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
    } else {
      ASN1_IA5STRING_free(dns);
    }
  }
  if (ok) {
    ok = sk_GENERAL_NAME_push(names, entry) > 0;
    if (ok) entry = nullptr;  // owned by the stack now
  }
  ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, names, critical ? 1 : 0,
                               X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAME_free(entry);
  GENERAL_NAMES_free(names);
  return ok;
}

X509Ptr build_ca_certificate(EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (!cert) return nullptr;
  X509* c = cert.get();
  X509_NAME* subject = X509_get_subject_name(c);
  const bool ok =
      X509_set_version(c, 2) == 1 && set_random_serial(c) &&
      X509_gmtime_adj(X509_getm_notBefore(c), -kHour) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(c), CertAuthority::kCaValidityDays * kDay) != nullptr &&
      X509_set_pubkey(c, key) == 1 && add_name_entry(subject, "O", "402flow") &&
      add_name_entry(subject, "CN", ca_common_name()) && X509_set_issuer_name(c, subject) == 1 &&
      add_extension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
      add_extension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") &&
      add_extension(c, c, NID_subject_key_identifier, "hash") &&
      add_extension(c, c, NID_authority_key_identifier, "keyid:always") &&
      X509_sign(c, key, EVP_sha256()) > 0;
  if (!ok) return nullptr;
  return cert;
}

EvpPkeyPtr generate_p256_key() {
  return EvpPkeyPtr(EVP_EC_gen("P-256"));
}

// The leaf key in OpenSSL's legacy EC_KEY form. OpenSSL 3.0 writes a provider key into a
// certificate through its encoder framework (about 400 µs per leaf, measured, more than the
// signature), and a legacy key through the EC method directly (about 15 µs). Every leaf carries
// this key, so it is kept in the form that is cheap to write. Handshakes sign with it as with any
// key (OpenSSL exports it to the provider once and keeps that).
EvpPkeyPtr generate_leaf_key() {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EvpPkeyPtr key(EVP_PKEY_new());
  EC_KEY* ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  const bool ok =
      key && ec != nullptr && EC_KEY_generate_key(ec) == 1 && EVP_PKEY_set1_EC_KEY(key.get(), ec);
  EC_KEY_free(ec);
#pragma GCC diagnostic pop
  return ok ? std::move(key) : nullptr;
}

// ---- files -----------------------------------------------------------------------------------

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void ensure_directory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    throw CaError(dir + ": exists and is not a directory");
  }
  throw CaError(dir + ": cannot create the directory: " + errno_text(errno));
}

// A temporary file in `dir` that is removed unless committed. mkstemp creates it 0600 whatever
// the umask, so the key is never readable by others, not even before the first byte.
class TempFile {
 public:
  TempFile(const std::string& dir, mode_t mode) : path_(dir + "/.ca.XXXXXX") {
    fd_.fd = ::mkstemp(path_.data());
    if (fd_.fd < 0) throw CaError(dir + ": cannot create a file: " + errno_text(errno));
    static_cast<void>(::fchmod(fd_.fd, mode));
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!committed_) ::unlink(path_.c_str());
  }

  // Writes `write` (into a BIO on the descriptor) and syncs. False on any failure.
  template <typename Write>
  bool fill(Write write) {
    BioPtr bio(BIO_new_fd(fd_.fd, BIO_NOCLOSE));
    return bio && write(bio.get()) && BIO_ctrl(bio.get(), BIO_CTRL_FLUSH, 0, nullptr) == 1 &&
           ::fsync(fd_.fd) == 0;
  }

  // Moves it to `path`; without `replace`, fails when `path` exists (no window to overwrite).
  void commit(const std::string& path, bool replace) {
    if (replace) {
      if (::rename(path_.c_str(), path.c_str()) != 0) fail(path);
    } else if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) !=
               0) {
      // A file system without RENAME_NOREPLACE: link() refuses an existing name just the same.
      if (errno != EINVAL || ::link(path_.c_str(), path.c_str()) != 0) fail(path);
      ::unlink(path_.c_str());
    }
    committed_ = true;
  }

 private:
  [[noreturn]] static void fail(const std::string& path) {
    throw CaError(path + ": " + errno_text(errno));
  }

  std::string path_;
  Fd fd_;
  bool committed_ = false;
};

void sync_directory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.fd >= 0) static_cast<void>(::fsync(fd.fd));
}

// The whole of a small file, checked through the descriptor that reads it. `private_key`
// refuses a file group or others may read. Throws CaError naming the path and the fix.
std::string read_small_file(const std::string& path, bool private_key) {
  Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.fd < 0) {
    const int err = errno;
    std::string message = path + ": " + errno_text(err);
    if (err == ENOENT) message += " (create a CA with `402flow ca init --dir DIR`)";
    throw CaError(message);
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) throw CaError(path + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw CaError(path + ": not a regular file");
  if (private_key && (st.st_mode & 077) != 0) {
    throw CaError(path + ": permissions " + mode_octal(st.st_mode) +
                  " give group or others access to the CA's private key; run chmod 600 " + path);
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxPemBytes) throw CaError(path + ": too large");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(file.fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

X509Ptr parse_certificate(const std::string& pem, const std::string& path) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ERR_clear_error();
    throw CaError(path + ": no PEM certificate in the file");
  }
  return cert;
}

EvpPkeyPtr parse_private_key(std::string& pem, const std::string& path) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    ERR_clear_error();
    throw CaError(path + ": no unencrypted PEM private key in the file");
  }
  return key;
}

void check_is_ca(X509* cert, const std::string& path) {
  const std::uint32_t flags = X509_get_extension_flags(cert);
  const bool ca = (flags & EXFLAG_CA) != 0;
  const bool can_sign =
      (flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN);
  if (!ca || !can_sign) {
    throw CaError(path +
                  ": not a CA certificate (it needs basicConstraints CA:TRUE and "
                  "keyUsage keyCertSign)");
  }
}

void check_validity(std::time_t not_before, std::time_t not_after, const std::string& path) {
  const std::time_t now = std::time(nullptr);
  if (now >= not_after) {
    throw CaError(path +
                  ": the CA certificate has expired; create a new one with `402flow ca "
                  "init --force` and trust it again");
  }
  if (now < not_before) throw CaError(path + ": the CA certificate is not valid yet (clock?)");
}

}  // namespace

std::string ca_cert_path(const std::string& dir) {
  return dir + "/ca.pem";
}
std::string ca_key_path(const std::string& dir) {
  return dir + "/ca.key";
}

std::optional<LeafName> parse_leaf_name(std::string_view name) {
  if (std::string ip = canonical_ip(name); !ip.empty()) {
    return LeafName{LeafName::Kind::ip, std::move(ip)};
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string lower(name);
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (!is_dns_name(lower)) return std::nullopt;
  return LeafName{LeafName::Kind::dns, std::move(lower)};
}

std::string_view leaf_error_name(LeafError error) {
  switch (error) {
    case LeafError::invalid_name:
      return "invalid_name";
    case LeafError::ca_not_valid:
      return "ca_not_valid";
    case LeafError::signing_failed:
      return "signing_failed";
  }
  return "signing_failed";
}

std::string certificate_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  const long n = BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, &data);  // BIO_get_mem_data
  return std::string(data, static_cast<std::size_t>(n));
}

std::string sha256_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

X509Ptr load_ca_certificate(const std::string& dir) {
  const std::string cert_file = ca_cert_path(dir);
  X509Ptr cert = parse_certificate(read_small_file(cert_file, false), cert_file);
  check_is_ca(cert.get(), cert_file);
  return cert;
}

CertAuthority::CertAuthority(std::string dir, X509Ptr cert, EvpPkeyPtr key)
    : dir_(std::move(dir)), cert_(std::move(cert)), key_(std::move(key)) {
  leaf_key_ = generate_leaf_key();
  if (!leaf_key_) throw CaError(openssl_error("generating the leaf key"));
  not_before_ = asn1_time_to_unix(X509_get0_notBefore(cert_.get()));
  not_after_ = asn1_time_to_unix(X509_get0_notAfter(cert_.get()));
}

CertAuthority CertAuthority::create(const std::string& dir, bool force) {
  const std::string cert_file = ca_cert_path(dir);
  const std::string key_file = ca_key_path(dir);
  ensure_directory(dir);
  if (!force && (exists(cert_file) || exists(key_file))) {
    throw CaError(dir + " already holds a CA (" + (exists(cert_file) ? cert_file : key_file) +
                  "); pass --force to replace it (clients that trust the old one will then "
                  "refuse the proxy until they trust the new one)");
  }
  EvpPkeyPtr key = generate_p256_key();
  X509Ptr cert = key ? build_ca_certificate(key.get()) : nullptr;
  if (!cert) throw CaError(openssl_error("creating the CA certificate"));

  TempFile key_tmp(dir, 0600);
  if (!key_tmp.fill([&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
      })) {
    throw CaError(openssl_error(key_file + ": writing the key failed"));
  }
  TempFile cert_tmp(dir, 0644);
  if (!cert_tmp.fill([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()) == 1; })) {
    throw CaError(openssl_error(cert_file + ": writing the certificate failed"));
  }
  // The key first: a certificate on disk always has its key beside it.
  key_tmp.commit(key_file, force);
  try {
    cert_tmp.commit(cert_file, force);
  } catch (const CaError&) {
    ::unlink(key_file.c_str());
    throw;
  }
  sync_directory(dir);
  return CertAuthority(dir, std::move(cert), std::move(key));
}

CertAuthority CertAuthority::load(const std::string& dir) {
  const std::string cert_file = ca_cert_path(dir);
  const std::string key_file = ca_key_path(dir);
  X509Ptr cert = load_ca_certificate(dir);
  std::string key_pem = read_small_file(key_file, true);
  EvpPkeyPtr key = parse_private_key(key_pem, key_file);
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    throw CaError(key_file + ": this key is not the key of " + cert_file +
                  " (the two files come from different CAs)");
  }
  CertAuthority ca(dir, std::move(cert), std::move(key));
  check_validity(ca.not_before_, ca.not_after_, cert_file);
  return ca;
}

std::variant<X509Ptr, LeafError> CertAuthority::mint_leaf(std::string_view name) const {
  const auto parsed = parse_leaf_name(name);
  if (!parsed) return LeafError::invalid_name;
  return mint_leaf(*parsed, std::time(nullptr));
}

std::variant<X509Ptr, LeafError> CertAuthority::mint_leaf(const LeafName& name,
                                                          std::time_t now) const {
  if (now < not_before_ || now >= not_after_) return LeafError::ca_not_valid;
  std::time_t from = std::max(now - kHour, not_before_);
  std::time_t until = std::min<std::time_t>(now + kLeafValidityDays * kDay, not_after_);
  X509Ptr cert(X509_new());
  if (!cert) return LeafError::signing_failed;
  X509* c = cert.get();
  // A CN holds at most 64 characters; a longer name is in the SAN alone, which is then critical.
  const bool with_cn = name.text.size() <= 64;
  const bool ok = X509_set_version(c, 2) == 1 && set_random_serial(c) &&
                  X509_time_adj_ex(X509_getm_notBefore(c), 0, 0, &from) != nullptr &&
                  X509_time_adj_ex(X509_getm_notAfter(c), 0, 0, &until) != nullptr &&
                  X509_set_pubkey(c, leaf_key_.get()) == 1 &&
                  X509_set_issuer_name(c, X509_get_subject_name(cert_.get())) == 1 &&
                  (!with_cn || add_name_entry(X509_get_subject_name(c), "CN", name.text)) &&
                  add_extension(c, cert_.get(), NID_basic_constraints, "critical,CA:FALSE") &&
                  add_extension(c, cert_.get(), NID_key_usage, "critical,digitalSignature") &&
                  add_extension(c, cert_.get(), NID_ext_key_usage, "serverAuth") &&
                  add_extension(c, cert_.get(), NID_authority_key_identifier, "keyid:always") &&
                  add_subject_alt_name(c, name, !with_cn) &&
                  X509_sign(c, key_.get(), EVP_sha256()) > 0;
  if (!ok) {
    ERR_clear_error();
    return LeafError::signing_failed;
  }
  return cert;
}

}  // namespace flow::proxy
