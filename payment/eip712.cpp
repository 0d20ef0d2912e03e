// filled in by the eip712 work
