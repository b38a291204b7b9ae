"""The short write transaction of the circulation hot path.

On SQLite every writer takes the database lock at ``BEGIN IMMEDIATE``. Threads of one
process that meet a held lock would wait in SQLite's busy handler, which sleeps in steps
(1, 2, 5, 10 … ms) and makes the slow tail of a busy reading point much slower than the
work itself. So writers of this process first queue on a plain lock (woken at once), then
begin; other processes still queue on the busy timeout. PostgreSQL needs no gate: rows are
locked and the unique indexes decide.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from library_app.db import get_engine, session_factory


@contextmanager
def write_session() -> Iterator[Session]:
    """A session of its own whose transaction begins IMMEDIATE; the caller commits."""
    gate: threading.Lock | None = None
    if get_engine().dialect.name == "sqlite":
        gate = current_app.extensions.setdefault("circulation_write_gate", threading.Lock())
    if gate is not None:
        gate.acquire()
    try:
        with session_factory(write=True)() as session:
            yield session
    finally:
        if gate is not None:
            gate.release()
