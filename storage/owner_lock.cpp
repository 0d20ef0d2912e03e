#include "owner_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "flow/storage/ledger.hpp"

namespace flow::storage {

OwnerLock::OwnerLock(const std::string& db_path) {
  const std::string path = db_path + "-lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw LedgerOpenError("cannot open the ledger lock " + path + ": " + std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::array<char, 32> pid{};
    const auto n = ::pread(fd_, pid.data(), pid.size() - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw LedgerOpenError("the ledger " + db_path + " is owned by another running 402flow" +
                            (n > 0 ? " (pid " + std::string(pid.data()) + ")" : "") +
                            "; each proxy needs its own ledger");
    }
    throw LedgerOpenError("cannot lock " + path + ": " + std::strerror(err));
  }
  // The pid only improves another process's error message: failing to write it is harmless.
  const std::string me = std::to_string(::getpid());
  const bool noted = ::ftruncate(fd_, 0) == 0 &&
                     ::pwrite(fd_, me.data(), me.size(), 0) == static_cast<ssize_t>(me.size());
  (void)noted;
}

OwnerLock::~OwnerLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace flow::storage
