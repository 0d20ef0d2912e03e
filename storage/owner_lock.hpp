// Internal: one owning process per ledger.
#pragma once
#include <string>

namespace flow::storage {

// An exclusive flock(2) on "<db>-lock", held for the Ledger's lifetime and released by the
// kernel if the process dies. A separate file, because closing any descriptor of the database
// file itself would drop SQLite's POSIX locks on it. The file holds the owner's pid for the
// error message and is never deleted (deleting a lock file races with the next locker).
class OwnerLock {
 public:
  explicit OwnerLock(const std::string& db_path);  // throws LedgerOpenError
  ~OwnerLock();
  OwnerLock(const OwnerLock&) = delete;
  OwnerLock& operator=(const OwnerLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace flow::storage
