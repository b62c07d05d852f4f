"""ucred reference-count strategies (see emu.kernel.strategies)."""
