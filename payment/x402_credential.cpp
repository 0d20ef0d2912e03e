// filled in by the x402_credential work
