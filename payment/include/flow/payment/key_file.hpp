#pragma once
#include <cstddef>
#include <string>
#include <variant>

#include "flow/payment/evm_key.hpp"

namespace flow::payment {

// Where a wallet's EVM key comes from (flow.yaml `wallets:`): exactly one of the two is set.
struct KeySource {
  std::string file;     // a file holding "0x" + 64 hex digits; must not be readable by group/others
  std::string env_var;  // an environment variable holding the same
};

// A small secret read from a file (a wallet key, the admin API's token): `text` is set when
// the file is a regular file of at most `max_bytes` that group and others cannot read; otherwise
// `error` names the file (`what` first, e.g. "key file") and what is wrong.
struct SecretFile {
  std::string text;
  std::string error;
};
SecretFile read_secret_file(const std::string& path, std::size_t max_bytes,
                            const std::string& what);

// The key, or an error message that names the file or variable and what is wrong — never any
// part of the key itself.
std::variant<EvmKey, std::string> load_evm_key(const KeySource& source);

// keygen: writes a fresh key to `path` (created with mode 0600, refused if it exists) and returns
// it; or an error message.
std::variant<EvmKey, std::string> write_new_key_file(const std::string& path);

}  // namespace flow::payment
