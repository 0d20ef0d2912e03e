// filled in by the keccak work
