// filled in by the exact_evm work
