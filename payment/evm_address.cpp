// filled in by the evm_address work
