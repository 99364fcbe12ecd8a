"""The in-memory store: every repository of the store port over dicts in this process."""

from dialer.adapters.store.memory.store import MemoryStore, MemoryUnitOfWork

__all__ = ["MemoryStore", "MemoryUnitOfWork"]
