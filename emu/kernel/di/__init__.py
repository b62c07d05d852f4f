"""Delayed-invalidation strategies for pmap_remove (see emu.kernel.strategies)."""
