"""Tables in memory: rows by key, the indexes the repositories look rows up by, and the undo
journal that rolls back what an uncommitted unit of work changed.

Rows are immutable (frozen dataclasses): a change replaces the row, so the journal only has to
remember the row each key held before, and a caller can never change a stored row by
mutating what it was given.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from dialer.errors import Conflict

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
IndexKey = Callable[[Any], Hashable | None]  # None: the row is not in the index


class Journal:
    """The rows the open transaction changed, as they were before, in the order changed."""

    def __init__(self) -> None:
        self._entries: list[tuple[Table[Any, Any], Any, Any]] = []

    def note(self, table: Table[Any, Any], key: Hashable, before: object | None) -> None:
        self._entries.append((table, key, before))

    def forget(self) -> None:
        """Commit: what was changed stays changed."""
        self._entries.clear()

    def undo(self) -> None:
        """Roll back: every changed key gets its earlier row back, latest change first."""
        for table, key, before in reversed(self._entries):
            table.restore(key, before)
        self._entries.clear()


class Table(Generic[K, R]):
    """Rows by primary key. ``unique`` indexes map one value to one key (a second row with
    the same value is a Conflict, as a unique constraint would be); ``groups`` map a value to
    the keys of every row that has it (the partial indexes: rows whose value is None are left
    out)."""

    def __init__(
        self,
        journal: Journal,
        *,
        unique: dict[str, IndexKey] | None = None,
        groups: dict[str, IndexKey] | None = None,
    ) -> None:
        self._journal = journal
        self._rows: dict[K, R] = {}
        self._ids = itertools.count(1)
        self._unique = {name: (of, dict[Hashable, K]()) for name, of in (unique or {}).items()}
        self._groups = {name: (of, dict[Hashable, set[K]]()) for name, of in (groups or {}).items()}

    def next_id(self) -> int:
        """A new id. Like a database sequence, a rolled-back unit does not give it back."""
        return next(self._ids)

    def get(self, key: K) -> R | None:
        return self._rows.get(key)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> Iterator[R]:
        return iter(list(self._rows.values()))

    def find(self, index: str, value: Hashable) -> R | None:
        """The row whose unique ``index`` value is ``value``."""
        key = self._unique[index][1].get(value)
        return None if key is None else self._rows[key]

    def group(self, index: str, value: Hashable) -> list[R]:
        """The rows whose ``index`` value is ``value``, in no particular order."""
        keys = self._groups[index][1].get(value, ())
        return [self._rows[key] for key in keys]

    def group_size(self, index: str, value: Hashable) -> int:
        return len(self._groups[index][1].get(value, ()))

    def group_values(self, index: str) -> Iterable[Hashable]:
        return list(self._groups[index][1])

    def put(self, key: K, row: R) -> None:
        """Insert or replace the row at ``key``."""
        self._check_unique(key, row)
        before = self._rows.get(key)
        self._journal.note(self, key, before)
        self._write(key, before, row)

    def delete(self, key: K) -> R | None:
        before = self._rows.get(key)
        if before is not None:
            self._journal.note(self, key, before)
            self._write(key, before, None)
        return before

    def restore(self, key: K, before: R | None) -> None:
        """Put back the row ``key`` held before (None: it did not exist); not journaled."""
        self._write(key, self._rows.get(key), before)

    def _check_unique(self, key: K, row: R) -> None:
        for name, (of, index) in self._unique.items():
            value = of(row)
            holder = None if value is None else index.get(value)
            if holder is not None and holder != key:
                raise Conflict(f"another row already has this {name}: {value!r}")

    def _write(self, key: K, before: R | None, after: R | None) -> None:
        if before is not None:
            self._unindex(key, before)
        if after is None:
            self._rows.pop(key, None)
            return
        self._rows[key] = after
        self._index(key, after)

    def _index(self, key: K, row: R) -> None:
        for of, unique in self._unique.values():
            value = of(row)
            if value is not None:
                unique[value] = key
        for of, grouped in self._groups.values():
            value = of(row)
            if value is not None:
                grouped.setdefault(value, set()).add(key)

    def _unindex(self, key: K, row: R) -> None:
        for of, unique in self._unique.values():
            value = of(row)
            if value is not None and unique.get(value) == key:
                del unique[value]
        for of, grouped in self._groups.values():
            value = of(row)
            members = grouped.get(value) if value is not None else None
            if members is not None:
                members.discard(key)
                if not members:
                    del grouped[value]
