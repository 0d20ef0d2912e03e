// filled in by the key_file work
