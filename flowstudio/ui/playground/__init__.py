"""Chat playground: talk to any model artifact through a local `flowstudio serve` child process."""
