"""Independent read statements of one request, run side by side on PostgreSQL.

A month report is a dozen aggregates over different index ranges. PostgreSQL runs a statement
on one core, so a report that sends them one after another leaves the server's other cores
idle while the caller waits: at a million loans the month report spent ~17 of its ~21 ms
waiting on statements that do not depend on each other. ``ParallelReads`` sends some of them
on connections of their own, from worker threads, while the caller goes on with the rest.

Only for sessions that do not write (``session.info["read_only"]``: the sessions of GET
requests, see ``db.py``), because a job on another connection cannot see what the caller's
transaction has written and not yet committed. The caller's own statements and the jobs'
each see the data committed when they start, as any two statements of a READ COMMITTED
transaction do. Everywhere else (SQLite, whose request keeps one read snapshot for the whole
report; sessions that write) a job runs in the caller's session when its value is first asked
for (and not at all if it never is), so the results are the same either way; tests compare
the two.

Adds no throughput: on a server busy with other requests the jobs only queue for the same
cores. What it buys is latency, for the one manager waiting for a report on an idle server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")

#: connections a report may use beside its own (PostgreSQL's default allows 100; the app's
#: pool, 5 + 10 overflow per process)
WORKERS = 3

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="parallel-reads")
        return _pool


def runs_in_parallel(session: Session) -> bool:
    """Whether jobs given to ``ParallelReads(session)`` run on connections of their own."""
    if not session.info.get("read_only"):
        return False
    return session.get_bind().dialect.name == "postgresql"


class _Later:
    """A job run in the caller's session when its value is first asked for."""

    def __init__(self, job: Callable[[Session], Any], session: Session) -> None:
        self.job, self.session = job, session
        self.done = False
        self.value: Any = None

    def __call__(self) -> Any:
        if not self.done:
            self.value = self.job(self.session)
            self.done = True
        return self.value


class ParallelReads:
    """``with ParallelReads(session) as reads: later = reads.run(job); …; value = later()``

    ``job(session)`` reads and returns a value; ``run`` returns a function that gives that
    value (or raises the job's error). Leaving the block waits for every job, also when the
    block fails, so no job outlives the request that started it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.parallel = runs_in_parallel(session)
        self._futures: list[Future[Any]] = []

    def run(self, job: Callable[[Session], T]) -> Callable[[], T]:
        if not self.parallel:
            return _Later(job, self.session)
        bind = self.session.get_bind()

        def work() -> T:
            with Session(bind=bind) as own:
                try:
                    return job(own)
                finally:
                    own.rollback()  # reads only: end the transaction, give the connection back

        future: Future[T] = _executor().submit(work)
        self._futures.append(future)
        return future.result

    def __enter__(self) -> ParallelReads:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for future in self._futures:
            try:
                future.result()
            except Exception:  # noqa: BLE001 - raised to whoever asked for it; here we only wait
                pass
