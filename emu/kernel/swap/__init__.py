"""Swap-reservation accounting strategies (see emu.kernel.strategies)."""
