// filled in by the hex work
