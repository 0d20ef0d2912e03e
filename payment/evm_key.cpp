// filled in by the evm_key work
