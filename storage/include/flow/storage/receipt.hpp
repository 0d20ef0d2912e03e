#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "flow/storage/payment_attempt.hpp"

namespace flow::storage {

// The canonical form receipts are hashed in. 1: the first release's fields. 2: adds
// failure_code. A receipt keeps the encoding it was written with; verification reads each row
// in its own (receipts written before a ledger's upgrade stay valid and keep no failure code).
inline constexpr int kReceiptEncoding = 2;

// A receipt is an append-only snapshot of an attempt at the moment its outcome became settled,
// failed or unknown. An attempt that goes unknown -> settled has two receipts. Receipts form a
// hash chain: each carries the hash of the one before it, so an edited, deleted or reordered
// row is detected by `Ledger::verify_chain` (and `402flow receipts verify`).
struct Receipt {
  std::int64_t seq = 0;    // 1, 2, 3, ... with no gaps
  std::string receipt_id;  // make_receipt_id(seq, hash): what X-402flow-Receipt carries
  std::int64_t recorded_at_ms = 0;
  Attempt attempt;        // the attempt as it was when this receipt was written
  std::string prev_hash;  // hash of receipt seq-1, or kGenesisHash for seq 1
  std::string hash;       // receipt_hash(*this)
  int encoding = kReceiptEncoding;
};

// prev_hash of the first receipt.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The exact bytes that are hashed: a version line naming the encoding, then every field except
// receipt_id, hash and encoding as `name=<length>:<bytes>\n`, in a fixed order, ending with
// prev_hash. Length prefixes make the encoding unambiguous whatever the fields contain.
// Encoding 1 has no failure_code field: such a receipt must have none (receipt_is_well_formed).
std::string receipt_canonical_form(const Receipt& receipt);
// A known encoding, and no field the encoding cannot carry.
bool receipt_is_well_formed(const Receipt& receipt);
// SHA-256 (lower-case hex) of the canonical form.
std::string receipt_hash(const Receipt& receipt);
// "rcpt_<seq>_<first 16 hex digits of the hash>": the seq finds the row without an index on
// random values, the hash part makes ids unguessable and ties them to the content.
std::string make_receipt_id(std::int64_t seq, std::string_view hash);
// The seq a well-formed receipt id names.
std::optional<std::int64_t> receipt_id_seq(std::string_view receipt_id);

struct ReceiptFilter {
  std::optional<std::string> agent;
  // An origin ("https://api.example.com"), or a bare host[:port] matching http:// and https://;
  // a bare host without a port ("127.0.0.1") matches that host on any port.
  std::optional<std::string> merchant;
  std::int64_t since_ms = 0;          // recorded at or after
  std::int64_t until_ms = 0;          // recorded before; 0: no end
  std::optional<AttemptState> state;  // the attempt's state the receipt records
  // A page: receipts before this seq (0: from the newest or oldest), at most `limit` (0: all),
  // newest first when `newest_first`.
  std::int64_t before_seq = 0;
  std::size_t limit = 0;
  bool newest_first = false;
};

enum class ChainProblem {
  none,
  missing_row,         // a seq number is absent: the row was deleted
  prev_hash_mismatch,  // the row does not follow the one before it: deleted, inserted or reordered
  hash_mismatch,       // the row's content does not match its hash: edited
  bad_receipt_id,      // the receipt id does not derive from the hash
  head_mismatch,       // the chain head does not match the last row: rows removed from the end
};
std::string_view chain_problem_name(ChainProblem problem);

struct ChainReport {
  bool ok = true;
  std::uint64_t rows_checked = 0;
  std::int64_t first_bad_seq = 0;  // the first row that fails (0 when ok)
  ChainProblem problem = ChainProblem::none;
  std::string detail;
  std::int64_t head_seq = 0;  // from the chain head record
  std::string head_hash;      // record it elsewhere to detect a rewrite of the whole chain
};

}  // namespace flow::storage
