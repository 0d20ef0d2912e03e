#include "flow/payment/key_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

namespace flow::payment {
namespace {

// Far more than "0x" + 64 digits and a newline; a bigger file is not a key file.
constexpr std::size_t kMaxKeyFileBytes = 1024;

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Closes on every path out of the loader.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string mode_octal(mode_t mode) {
  char buf[8];
  const auto bits = static_cast<unsigned>(mode & 0777);
  buf[0] = '0';
  buf[1] = static_cast<char>('0' + ((bits >> 6) & 7u));
  buf[2] = static_cast<char>('0' + ((bits >> 3) & 7u));
  buf[3] = static_cast<char>('0' + (bits & 7u));
  return std::string(buf, 4);
}

std::variant<EvmKey, std::string> load_from_file(const std::string& path) {
  SecretFile file = read_secret_file(path, kMaxKeyFileBytes, "key file");
  if (!file.error.empty()) return std::move(file.error);
  std::optional<EvmKey> key = EvmKey::from_hex(file.text);
  OPENSSL_cleanse(file.text.data(), file.text.size());
  if (!key) {
    return "key file " + path + ": does not hold a secp256k1 private key as \"0x\" + 64 hex digits";
  }
  return std::move(*key);
}

std::variant<EvmKey, std::string> load_from_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return "environment variable " + name + " is not set";
  auto key = EvmKey::from_hex(value);
  if (!key) {
    return "environment variable " + name +
           " does not hold a secp256k1 private key as \"0x\" + 64 hex digits";
  }
  return std::move(*key);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Makes the new directory entry durable too, not only the file's bytes. Best effort: a
// directory that cannot be opened for reading does not make the key less written.
void sync_parent_directory(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  static_cast<void>(::fsync(fd));
  ::close(fd);
}

}  // namespace

SecretFile read_secret_file(const std::string& path, std::size_t max_bytes,
                            const std::string& what) {
  const std::string where = what + " " + path + ": ";
  SecretFile out;
  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    out.error = where + errno_text(errno);
    return out;
  }
  // fstat on the open descriptor: the file checked is the file read, even if the path changes.
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) {
    out.error = where + errno_text(errno);
  } else if (!S_ISREG(st.st_mode)) {
    out.error = where + "not a regular file";
  } else if ((st.st_mode & 077) != 0) {
    out.error = where + "permissions " + mode_octal(st.st_mode) +
                " let group or others read it; run chmod 600 " + path;
  }
  if (!out.error.empty()) return out;
  out.text.resize(max_bytes + 1);  // one more: a longer file is refused, not cut
  std::size_t len = 0;
  while (len < out.text.size()) {
    const ssize_t n = ::read(file.fd, out.text.data() + len, out.text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      OPENSSL_cleanse(out.text.data(), out.text.size());
      out.text.clear();
      out.error = where + errno_text(err);
      return out;
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  if (len > max_bytes) {
    OPENSSL_cleanse(out.text.data(), out.text.size());
    out.text.clear();
    out.error = where + "larger than " + std::to_string(max_bytes) + " bytes";
    return out;
  }
  out.text.resize(len);
  return out;
}

std::variant<EvmKey, std::string> load_evm_key(const KeySource& source) {
  if (source.file.empty() == source.env_var.empty()) {
    return std::string("a wallet key needs exactly one of a key file or an environment variable");
  }
  return source.file.empty() ? load_from_env(source.env_var) : load_from_file(source.file);
}

std::variant<EvmKey, std::string> write_new_key_file(const std::string& path) {
  const std::string where = "key file " + path + ": ";
  // O_EXCL: never overwrite a key, which may be the only copy of a funded wallet's secret.
  EvmKey key = EvmKey::generate();
  Fd file;
  file.fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (file.fd < 0) return where + errno_text(errno);
  // The mode asked of open() is filtered by the umask; set it outright so it is exactly 0600.
  static_cast<void>(::fchmod(file.fd, 0600));
  std::string text = key.secret_hex_for_key_file() + "\n";
  const bool written = write_all(file.fd, text) && ::fsync(file.fd) == 0;
  const int err = errno;
  OPENSSL_cleanse(text.data(), text.size());
  if (!written) {
    ::unlink(path.c_str());
    return where + errno_text(err);
  }
  sync_parent_directory(path);
  return key;
}

}  // namespace flow::payment
