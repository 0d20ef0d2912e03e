// filled in by the x402_challenge work
