"""Login throttling kept in the database, so every process of a deployment shares the counts
(rules in ``domain.accounts``). The page login and the token endpoint call the same two
functions with the same keys.

Atomicity: the rows of one attempt are read and written in one transaction of the request's
write session: on PostgreSQL under ``SELECT ... FOR UPDATE`` (a missing row is first inserted
with ``ON CONFLICT DO NOTHING``, so racing inserts wait for each other), on SQLite inside the
``BEGIN IMMEDIATE`` every write session takes. The caller commits right after ``reserve``,
before checking the password.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from library_app.domain.accounts import (
    AccountRule,
    Counter,
    Decision,
    WindowRule,
    account_attempt,
    window_attempt,
    window_success,
)
from library_app.models import LoginThrottle

KEEP = timedelta(days=1)  # rows untouched this long are swept


@dataclass(frozen=True)
class Policy:
    account: AccountRule = field(default_factory=AccountRule)
    address: tuple[WindowRule, ...] = (
        WindowRule(60, timedelta(minutes=1)),
        WindowRule(600, timedelta(hours=1)),
    )


def policy_from_config(config: dict) -> Policy:
    address = tuple(
        WindowRule(int(limit), timedelta(seconds=int(seconds)))
        for limit, seconds in config.get("LOGIN_ADDRESS_LIMITS", ((60, 60), (600, 3600)))
    )
    account = AccountRule(
        free=int(config.get("LOGIN_ACCOUNT_FREE_FAILURES", 5)),
        delays=tuple(int(s) for s in config.get("LOGIN_ACCOUNT_DELAYS", (15, 30, 60))),
        forget=timedelta(minutes=int(config.get("LOGIN_ACCOUNT_FORGET_MINUTES", 15))),
    )
    return Policy(account=account, address=address)


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _keys(username: str, address: str, policy: Policy) -> tuple[str, list[tuple[str, WindowRule]]]:
    account = _key("account", (username or "").strip().lower())
    windows = [(_key("address", address or "-", str(int(r.window.total_seconds()))), r)
               for r in policy.address]
    return account, windows


def _lock(session: Session, keys: list[str], now: datetime) -> dict[str, LoginThrottle]:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [{"key": k, "count": 0, "started_at": now, "last_at": now} for k in sorted(keys)]
    session.execute(insert(LoginThrottle).values(rows).on_conflict_do_nothing(index_elements=["key"]))
    found = session.scalars(
        select(LoginThrottle).where(LoginThrottle.key.in_(keys)).order_by(LoginThrottle.key)
        .with_for_update().execution_options(populate_existing=True)
    ).all()
    return {row.key: row for row in found}


def _counter(row: LoginThrottle) -> Counter | None:
    if row.count == 0 and row.blocked_until is None:
        return None
    return Counter(row.count, row.started_at, row.last_at, row.blocked_until)


def _store(row: LoginThrottle, c: Counter) -> None:
    row.count, row.started_at, row.last_at, row.blocked_until = c.count, c.started_at, c.last_at, c.blocked_until


def _sweep(session: Session, now: datetime) -> None:
    """Forget rows untouched for a day, a few at a time; rows another attempt holds are left
    (SKIP LOCKED on PostgreSQL), so two sweeps never wait on each other."""
    stale = (select(LoginThrottle.key).where(LoginThrottle.last_at < now - KEEP).limit(100)
             .with_for_update(skip_locked=True))
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(stale)))


def _count_or_refuse(session: Session, decisions: list[tuple[LoginThrottle, Decision]]) -> int:
    """Every counter takes the attempt, or (one refuses) none does: the longest wait, else 0."""
    refused = [d.retry_after for _, d in decisions if not d.allowed]
    if refused:
        return max(refused)
    for row, decision in decisions:
        assert decision.after is not None
        _store(row, decision.after)
    session.flush()
    return 0


def reserve(session: Session, username: str, address: str, now: datetime, policy: Policy) -> int:
    """Count this attempt as a failure before the password is checked. Returns 0 when it may
    go ahead, else the seconds to wait (then nothing is counted)."""
    _sweep(session, now)
    account, windows = _keys(username, address, policy)
    rows = _lock(session, [account] + [k for k, _ in windows], now)
    decisions = [(rows[account], account_attempt(_counter(rows[account]), now, policy.account))]
    decisions += [(rows[k], window_attempt(_counter(rows[k]), now, rule)) for k, rule in windows]
    return _count_or_refuse(session, decisions)


def succeeded(session: Session, username: str, address: str, now: datetime, policy: Policy) -> None:
    """The reserved attempt was a correct login: the account starts afresh and the address
    gets its attempt back."""
    account, windows = _keys(username, address, policy)
    rows = _lock(session, [account] + [k for k, _ in windows], now)
    session.delete(rows[account])
    for key, _rule in windows:
        c = _counter(rows[key])
        if c is not None:
            _store(rows[key], window_success(c))
    session.flush()


# ---------------------------------------------------------------- per-address guesses of links

def address_rules_from_config(config: dict, name: str) -> tuple[WindowRule, ...]:
    """(limit, seconds) pairs under ``config[name]`` as window rules (e.g. INVITE_ADDRESS_LIMITS)."""
    return tuple(WindowRule(int(limit), timedelta(seconds=int(seconds))) for limit, seconds in config[name])


def _scope_keys(scope: str, address: str, rules: tuple[WindowRule, ...]) -> list[tuple[str, WindowRule]]:
    return [(_key(scope, address or "-", str(int(r.window.total_seconds()))), r) for r in rules]


def reserve_address(session: Session, scope: str, address: str, now: datetime,
                    rules: tuple[WindowRule, ...]) -> int:
    """Count one guess of a secret in a link (an invitation's token) from this address, under
    ``scope``, before it is looked up; 0 when it may go ahead, else the seconds to wait. Same
    rows, locking and sweep as the login counts, with keys of their own."""
    _sweep(session, now)
    windows = _scope_keys(scope, address, rules)
    rows = _lock(session, [k for k, _ in windows], now)
    decisions = [(rows[k], window_attempt(_counter(rows[k]), now, rule)) for k, rule in windows]
    return _count_or_refuse(session, decisions)


def give_back_address(session: Session, scope: str, address: str, now: datetime,
                      rules: tuple[WindowRule, ...]) -> None:
    """The reserved guess named a real link: it was not a guess."""
    windows = _scope_keys(scope, address, rules)
    rows = _lock(session, [k for k, _ in windows], now)
    for key, _rule in windows:
        c = _counter(rows[key])
        if c is not None:
            _store(rows[key], window_success(c))
    session.flush()
