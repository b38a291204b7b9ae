"""Group commit of the circulation writes (``library_app.circulation.txn.GroupWriter``), on a real
SQLite file: writes that queue behind one another share one transaction, each caller gets its
own answer, and one caller's failure is never another's."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from library_app.circulation.txn import GroupWriter
from library_app.db import make_engine, writer

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
def setup(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    metadata.create_all(engine)
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    group = GroupWriter(sessionmaker(bind=writer(engine)), lambda: datetime.now(UTC))
    yield engine, group, commits
    engine.dispose()


def names(engine) -> list[str]:
    with engine.connect() as c:
        return sorted(c.scalars(select(rows.c.name)))


def run_together(group: GroupWriter, works: list) -> tuple[list[object], list[BaseException | None]]:
    """The first work holds the lock until every other caller has queued behind it."""
    results: list[object] = [None] * len(works)
    errors: list[BaseException | None] = [None] * len(works)
    release = threading.Event()

    def first(session: Session, now: datetime) -> object:
        assert release.wait(10)
        return works[0](session, now)

    def call(i: int) -> None:
        try:
            results[i] = group.run(first if i == 0 else works[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            errors[i] = exc

    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    while not group._gate.locked():
        time.sleep(0.001)
    threads += [threading.Thread(target=call, args=(i,)) for i in range(1, len(works))]
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < len(works) - 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    for t in threads:
        t.join(10)
    return results, errors


def add(name: str):
    def work(session: Session, now: datetime) -> object:
        session.execute(insert(rows).values(name=name))
        return (name, session.scalar(select(func.count()).select_from(rows)))

    return work


def test_queued_writes_share_one_commit_and_each_gets_its_answer(setup) -> None:
    engine, group, commits = setup
    works = [add(f"n{i:02d}") for i in range(12)]
    results, errors = run_together(group, works)
    assert errors == [None] * 12
    assert [r[0] for r in results] == [f"n{i:02d}" for i in range(12)]  # type: ignore[index]
    assert names(engine) == [f"n{i:02d}" for i in range(12)]
    # the first write ran alone; the eleven queued behind it went in one transaction, in order,
    # each seeing the ones before it
    assert len(commits) == 2
    later = sorted(r[1] for r in results[1:])  # type: ignore[index]
    assert later == list(range(2, 13))


def test_one_failing_write_fails_alone(setup) -> None:
    engine, group, commits = setup
    group.run(add("taken"))
    works = [add("a"), add("b"), add("taken"), add("c")]  # the third breaks the unique name

    def boom(session: Session, now: datetime) -> object:
        session.execute(insert(rows).values(name="half-done"))
        raise ValueError("a bug in one request")

    works.append(boom)
    results, errors = run_together(group, works)
    assert errors[0] is None and errors[1] is None and errors[3] is None
    assert errors[2] is not None and "UNIQUE" in str(errors[2])
    assert isinstance(errors[4], ValueError)
    assert names(engine) == ["a", "b", "c", "taken"]  # nothing of the failed ones, all of the others
    assert results[1] is not None and results[1][0] == "b"  # type: ignore[index]


def test_a_write_alone_commits_before_it_returns(setup) -> None:
    engine, group, commits = setup
    assert group.run(add("solo"))[0] == "solo"  # type: ignore[index]
    assert names(engine) == ["solo"]
    assert len(commits) == 1
