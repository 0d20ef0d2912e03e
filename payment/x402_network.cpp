// filled in by the x402_network work
