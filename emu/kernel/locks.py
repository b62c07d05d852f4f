"""The named locks of one run: the same table in the actor and in every CPU process.

Built by the supervisor before it forks, so a lock id means the same lock everywhere.
Names are the kernel's own (`lockstat` shows them).
"""

from __future__ import annotations


class LockTable:
    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, name: str) -> int:
        """Declare a lock; returns its id."""
        if name in self.names:
            raise ValueError(f"lock {name!r} declared twice")
        self.names.append(name)
        return len(self.names) - 1

    def id(self, name: str) -> int:
        return self.names.index(name)

    def __len__(self) -> int:
        return len(self.names)
