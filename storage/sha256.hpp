// Internal: SHA-256 through OpenSSL's EVP interface.
#pragma once
#include <string>
#include <string_view>

namespace flow::storage {

// Lower-case hex digest. Aborts only if OpenSSL cannot provide SHA-256 at all.
std::string sha256_hex(std::string_view data);
bool is_sha256_hex(std::string_view text);

}  // namespace flow::storage
