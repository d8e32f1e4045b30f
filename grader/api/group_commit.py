"""Group commit: the grades that several threads of one process record at the same moment
go to the database in ONE statement, so in one transaction and one commit.

A durable commit is the dearest part of recording a grade, on PostgreSQL above all (a round
trip, the statement's executor start, the WAL flush): when a whole class submits at the
deadline, most of the database's work would be commits of one row each. Here the first
thread to arrive leads: it takes every grade waiting (its own included), writes them with
one statement and wakes the others with their outcome. Threads that arrive while it writes
wait for the next batch, which the first of them leads. Nobody waits for a timer: alone, a
thread writes its grade at once, as before; under load the batches grow by themselves,
exactly as much as the commits are the bottleneck.

Each request still answers only after its grade is committed: nothing is acknowledged
before it is durable. With one thread per process (gunicorn's sync workers) every batch has
one grade. When a batch fails (a bad row, the database gone: the statement is atomic), every
thread records its own grade alone, to get its own outcome or error; a grade that the failed
batch did commit after all (the connection lost after the commit) is then found under its
Idempotency-Key and replayed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_ALONE = object()  # a batch's outcome that tells its threads to record their own alone


class _Entry(Generic[T]):
    """A waiting thread's item, and how it is woken: with its outcome, or to lead."""

    __slots__ = ("item", "woken", "outcome", "lead")

    def __init__(self, item: T) -> None:
        self.item = item
        self.woken = threading.Event()
        self.outcome: object = None
        self.lead = False


class GroupCommit(Generic[T, R]):
    """Runs `write(items)` (one statement for all: their outcomes, in order) for batches of
    the items that threads `submit` concurrently, at most `max_batch` at a time;
    `write_one(item)` when a batch failed, or a thread is alone."""

    def __init__(self, write: Callable[[Sequence[T]], list[R]],
                 write_one: Callable[[T], R], max_batch: int = 32) -> None:
        self.write = write
        self.write_one = write_one
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Entry[T]] = []
        self._leading = False
        self._pid = os.getpid()

    def submit(self, item: T) -> R:
        """`item`'s outcome, once it is written (with others, or alone)."""
        entry = None
        with self._lock:
            if self._pid != os.getpid():  # a forked process: its parent's state is not its own
                self._waiting, self._leading, self._pid = [], False, os.getpid()
            if self._leading:
                entry = _Entry(item)
                self._waiting.append(entry)
            else:
                self._leading = True
        if entry is None:  # nobody else is writing: at once, alone
            try:
                return self.write_one(item)
            finally:
                self._next_leader()
        entry.woken.wait()
        if entry.lead:
            self._lead()
        if entry.outcome is _ALONE:
            return self.write_one(item)
        return entry.outcome  # type: ignore[return-value]

    def _lead(self) -> None:
        """Write the waiting items (the leader's among them), then wake their threads and the
        next batch's leader."""
        with self._lock:
            batch = self._waiting[:self.max_batch]
            del self._waiting[:self.max_batch]
        outcomes: list[object] = [_ALONE] * len(batch)
        try:
            written = list(self.write([e.item for e in batch]))
            if len(written) == len(batch):
                outcomes = written
        except Exception:  # noqa: BLE001, S110 - nothing was written: each writes its own
            pass
        finally:  # even when interrupted, nobody is left waiting
            self._next_leader()
            for entry, outcome in zip(batch, outcomes, strict=True):
                entry.outcome = outcome
                if not entry.lead:
                    entry.woken.set()

    def _next_leader(self) -> None:
        """Hand the lead to the first thread waiting, or leave it free."""
        with self._lock:
            if self._waiting:
                first = self._waiting[0]
                first.lead = True
                first.woken.set()
            else:
                self._leading = False
