#include "cli/ca_cli.hpp"

#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "flow/proxy/network/cert_authority.hpp"

namespace flow::proxy {

struct CaCommands::Flags {
  std::string dir;
  bool force = false;
  std::string out;
  std::string system_roots;
};

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::string absolute(const std::string& path) {
  std::error_code ec;
  const auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

int usage_error(const char* command, const std::string& message) {
  std::fprintf(stderr, "402flow %s: %s\n", command, message.c_str());
  return kExitUsage;
}

int failure(const char* command, const std::string& message) {
  std::fprintf(stderr, "402flow %s: %s\n", command, message.c_str());
  return kExitFailed;
}

void print_trust_instructions(const std::string& dir) {
  const std::string cert = ca_cert_path(dir);
  const std::string bundle = dir + "/bundle.pem";
  std::cout
      << "\nTrust it in the agent's environment:\n"
      << "  curl, Python (requests, httpx, urllib) and most clients read a file that REPLACES\n"
      << "  the system store, so give them a bundle of the system roots plus this CA:\n"
      << "    402flow ca bundle --dir " << dir << " --out " << bundle << "\n"
      << "    export SSL_CERT_FILE=" << bundle << " REQUESTS_CA_BUNDLE=" << bundle
      << " CURL_CA_BUNDLE=" << bundle << "\n"
      << "  wget (GnuTLS builds): --ca-certificate=" << bundle << "\n"
      << "  Node adds to its store, so it takes the CA alone:\n"
      << "    export NODE_EXTRA_CA_CERTS=" << cert << "\n"
      << "(docs/https.md lists which variable each client reads.)\n"
      << "Keep ca.key secret: whoever holds it can impersonate any site to clients that trust "
         "this CA.\n";
}

int run_init(const CaCommands::Flags& f) {
  if (f.dir.empty()) return usage_error("ca init", "--dir is required (where to write the CA)");
  try {
    const CertAuthority ca = CertAuthority::create(f.dir, f.force);
    std::cout << "wrote " << absolute(ca_cert_path(f.dir)) << " (the CA certificate)\n"
              << "wrote " << absolute(ca_key_path(f.dir)) << " (its private key, mode 0600)\n"
              << "SHA-256 fingerprint: " << ca.fingerprint_sha256() << "\n";
    print_trust_instructions(f.dir);
  } catch (const CaError& e) {
    return failure("ca init", e.what());
  }
  return 0;
}

int run_export(const CaCommands::Flags& f) {
  if (f.dir.empty()) return usage_error("ca export", "--dir is required (the CA's directory)");
  try {
    const X509Ptr cert = load_ca_certificate(f.dir);
    std::cout << certificate_pem(cert.get());
  } catch (const CaError& e) {
    return failure("ca export", e.what());
  }
  return 0;
}

bool readable_file(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) && !ec;
}

// The system's root store as one PEM file: SSL_CERT_FILE when set (unless it is the bundle being
// written), then OpenSSL's default file, then the usual distribution paths. Empty if none.
std::string find_system_roots(const std::string& out) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv(X509_get_default_cert_file_env()); env != nullptr) {
    candidates.emplace_back(env);
  }
  candidates.emplace_back(X509_get_default_cert_file());
  for (const char* p : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                        "/etc/ssl/cert.pem"}) {
    candidates.emplace_back(p);
  }
  for (const auto& path : candidates) {
    if (readable_file(path) && !same_file(path, out)) return path;
  }
  return {};
}

std::size_t count_certificates(const std::string& pem) {
  std::size_t n = 0;
  for (auto at = pem.find("-----BEGIN CERTIFICATE-----"); at != std::string::npos;
       at = pem.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    ++n;
  }
  return n;
}

// Writes beside `path`, then renames over it: a reader never sees half a bundle.
bool write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

int run_bundle(const CaCommands::Flags& f) {
  if (f.dir.empty()) return usage_error("ca bundle", "--dir is required (the CA's directory)");
  if (f.out.empty()) return usage_error("ca bundle", "--out is required (the bundle to write)");
  try {
    const X509Ptr cert = load_ca_certificate(f.dir);
    const std::string roots_path =
        f.system_roots.empty() ? find_system_roots(f.out) : f.system_roots;
    if (roots_path.empty()) {
      return failure("ca bundle", "no system root store found; name one with --system-roots FILE");
    }
    std::ifstream in(roots_path, std::ios::binary);
    std::ostringstream roots;
    roots << in.rdbuf();
    if (!in || count_certificates(roots.str()) == 0) {
      return failure("ca bundle", roots_path + ": not a readable PEM file of certificates");
    }
    std::string text = roots.str();
    const std::string ca_pem = certificate_pem(cert.get());
    const bool already = text.find(ca_pem) != std::string::npos;
    if (!already) {
      if (!text.empty() && text.back() != '\n') text += '\n';
      text += "# 402flow local CA " + sha256_fingerprint(cert.get()) + "\n" + ca_pem;
    }
    if (!write_file_atomically(f.out, text)) {
      return failure("ca bundle", f.out + ": cannot write the file");
    }
    std::cout << "wrote " << absolute(f.out) << ": " << count_certificates(text)
              << " certificates, the system roots from " << roots_path << " plus the 402flow CA"
              << (already ? " (already among them)" : "") << "\n";
  } catch (const CaError& e) {
    return failure("ca bundle", e.what());
  }
  return 0;
}

}  // namespace

CaCommands::CaCommands(CLI::App& app) : flags_(std::make_unique<Flags>()) {
  ca_ = app.add_subcommand("ca", "the local CA that HTTPS interception presents to clients");
  ca_->require_subcommand(1);
  Flags& f = *flags_;

  init_ = ca_->add_subcommand("init", "create a CA: DIR/ca.pem and DIR/ca.key (mode 0600)");
  init_->add_option("--dir", f.dir, "the directory to write (created 0700 if missing)");
  init_->add_flag("--force", f.force, "replace a CA already in DIR");

  export_ = ca_->add_subcommand("export", "print the CA certificate (PEM)");
  export_->add_option("--dir", f.dir, "the CA's directory");

  bundle_ = ca_->add_subcommand(
      "bundle", "write the system roots plus the CA (for SSL_CERT_FILE, REQUESTS_CA_BUNDLE, ...)");
  bundle_->add_option("--dir", f.dir, "the CA's directory");
  bundle_->add_option("--out", f.out, "the bundle file to write");
  bundle_->add_option("--system-roots", f.system_roots,
                      "the system roots PEM file (default: found as OpenSSL does)");
}

CaCommands::~CaCommands() = default;

bool CaCommands::selected() const {
  return ca_->parsed();
}

int CaCommands::run() const {
  if (*init_) return run_init(*flags_);
  if (*export_) return run_export(*flags_);
  if (*bundle_) return run_bundle(*flags_);
  return usage_error("ca", "expected a subcommand: init, export or bundle");
}

}  // namespace flow::proxy
