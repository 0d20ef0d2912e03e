// filled in by the x402_settlement work
