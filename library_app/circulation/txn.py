"""The short write transactions of the circulation hot path, with group commit on SQLite.

On SQLite every writer takes the database lock at ``BEGIN IMMEDIATE``, so circulation writes
are serialised anyway. Threads of one process that met a held lock would wait in SQLite's busy
handler, which sleeps in steps (1, 2, 5, 10 … ms). So writers of this process queue in the
process instead, and the one whose turn it is applies *every* write queued at that moment, one
after the other, in one transaction, and commits once (group commit): a reading point's burst of
scans costs one BEGIN and one COMMIT, and the threads behind it wait asleep instead of taking
turns at the interpreter with the one that writes.

Each write still sees the writes before it (same transaction, applied in queue order, each with
its own clock reading taken when its turn comes), and a request answers only after the commit
that holds its write. If one write fails, the group is rolled back and each write of the group
is run again alone, so one request's error is never another's. Other processes still queue on
the busy timeout. PostgreSQL needs none of this: rows are locked and the unique indexes decide,
so each request there runs its own transaction; one that PostgreSQL picks as the victim of a
deadlock or a serialization failure is rolled back and run again, whole, a few times, so the
phone gets an answer instead of a 500.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from flask import Flask, current_app
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from library_app.db import get_engine, session_factory

T = TypeVar("T")
Work = Callable[[Session, datetime], T]
MAX_GROUP = 32  # writes per transaction: a bound on how long one commit makes the others wait
VICTIM_RETRIES = 4  # runs of one write that PostgreSQL may pick as a deadlock victim before it fails
# SQLSTATEs of a transaction PostgreSQL aborted only so that another could go on: run it again.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


class _Job(Generic[T]):
    __slots__ = ("work", "done", "result", "error", "woken", "leads")

    def __init__(self, work: Work[T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None
        # released when its group has committed, or when it is to lead the next group (a bare
        # lock taken at once: one release wakes its thread, cheaper than an Event's condition)
        self.woken = threading.Lock()
        self.woken.acquire()
        self.leads = False


class GroupWriter:
    """Runs write work ``work(session, now)`` and commits it, grouping concurrent writes.

    The thread that finds nobody writing takes the gate and leads a group: every write queued
    then, its own first. A write that arrives while a group runs waits on a lock of its own; when
    the group has committed, the leader wakes each of its writers at once, and hands the gate
    straight to the first write still queued, which leads the next group. (Waiting on the gate
    itself instead made the writers of a finished group take the lock one after the other only
    to see that their write was done: one thread wake-up, and a wait for the interpreter, each.)
    """

    def __init__(self, sessions: Callable[[], Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock
        self._gate = threading.Lock()  # held while a group runs, passed from leader to leader
        self._mutex = threading.Lock()  # the queue, and who holds the gate
        self._queue: deque[_Job[object]] = deque()

    def run(self, work: Work[T]) -> T:
        job: _Job[T] = _Job(work)
        with self._mutex:
            self._queue.append(job)  # type: ignore[arg-type]
            job.leads = self._gate.acquire(blocking=False)
        if not job.leads:
            job.woken.acquire()
        if not job.done:  # handed the gate: lead the next group
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _lead(self, own: _Job[T]) -> None:
        with self._mutex:  # the leader's own write is first in the queue
            jobs = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_GROUP))]
        try:
            self._run_group(jobs)
        finally:
            with self._mutex:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._gate.release()
                else:
                    following.leads = True
            for job in jobs:
                if job is not own:
                    job.woken.release()
            if following is not None:
                following.woken.release()

    def _run_group(self, jobs: list[_Job[object]]) -> None:
        try:
            self._in_one_transaction(jobs)
        except Exception:
            if len(jobs) == 1:
                jobs[0].error = _current_error()
            else:  # someone's write failed: everyone again, alone, so only that one fails
                for job in jobs:
                    job.result = None
                    try:
                        self._in_one_transaction([job])
                    except Exception:
                        job.error = _current_error()
        except BaseException as exc:  # the process is stopping: nobody's write is known to be in
            for job in jobs:
                job.error = exc
            raise
        finally:
            for job in jobs:
                job.done = True

    def _in_one_transaction(self, jobs: list[_Job[object]]) -> None:
        with self._sessions() as session:
            for job in jobs:
                job.result = job.work(session, self._clock())
            session.commit()


def _current_error() -> BaseException:
    import sys

    error = sys.exc_info()[1]
    assert error is not None
    return error


def write(work: Work[T]) -> T:
    """Run ``work(session, now)`` in a write transaction and commit it; return what it returned.

    ``now`` is read when the write's turn comes, so the order of the clock is the order of the
    writes. ``work`` must not commit, must not call ``write`` itself (the lock is not
    re-entrant), and must not use anything of the request (it may run in another request's
    thread): pass it plain values.
    """
    from library_app.web import utcnow

    if get_engine().dialect.name != "sqlite":
        return run_retrying(session_factory(write=True), utcnow, work)
    return _writer(current_app._get_current_object()).run(work)  # type: ignore[attr-defined]


def is_victim(error: BaseException) -> bool:
    """A deadlock or serialization failure: the database undid this transaction for another's sake."""
    orig = getattr(error, "orig", None)
    return isinstance(error, DBAPIError) and getattr(orig, "sqlstate", None) in RETRY_SQLSTATES


def run_retrying(sessions: Callable[[], Session], clock: Callable[[], datetime], work: Work[T],
                 attempts: int = VICTIM_RETRIES) -> T:
    """``work`` in its own transaction, committed; run again if it is a deadlock's victim.

    The victim's transaction is rolled back whole, so nothing of it stays; the next run reads
    afresh (and a fresh ``now``). A short random pause lets the other transaction finish.
    """
    for attempt in range(attempts):
        try:
            with sessions() as session:
                result = work(session, clock())
                session.commit()
                return result
        except DBAPIError as exc:
            if not is_victim(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _writer(app: Flask) -> GroupWriter:
    writer = app.extensions.get("circulation_writer")
    if writer is None:
        from library_app.web import utcnow

        factory = session_factory(write=True)
        writer = app.extensions.setdefault("circulation_writer", GroupWriter(factory, utcnow))
    return writer
