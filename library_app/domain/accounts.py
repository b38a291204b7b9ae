"""Account rules with no framework in them: session lifetimes and login throttling.

Throttling (ASVS 5.0 6.3.1, 6.1.1): failures are counted per account and per address.

- Per account: the first ``free`` failures cost nothing; each failure after that makes the
  account wait a short, growing delay (``delays``, the last one repeating) before the next
  attempt is even checked. The count is forgotten ``forget`` after the last failure, and at a
  successful login. The longest wait is short (a minute by default), so no one can lock a
  story mother out for an hour from many addresses; guessing is slowed to about one try a
  minute, i.e. well under ASVS's "100 failed attempts an hour" for one account.
- Per address: windows (e.g. 60 a minute, 600 an hour) loose enough for a shared Wi-Fi or a
  carrier's address; only when an address goes past them is it refused until the window ends.
  One account's failures never count against another account.

An attempt is counted *before* the password is checked (and taken back when it succeeds), so
attempts racing each other cannot all pass a count they have not yet raised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Counter:
    count: int
    started_at: datetime
    last_at: datetime
    blocked_until: datetime | None = None


@dataclass(frozen=True)
class AccountRule:
    free: int = 5
    delays: tuple[int, ...] = (15, 30, 60)  # seconds, after the free failures; the last repeats
    forget: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class WindowRule:
    limit: int
    window: timedelta


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # whole seconds to wait when refused
    after: Counter | None  # the counter with this attempt counted as a failure (when allowed)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def account_attempt(c: Counter | None, now: datetime, rule: AccountRule) -> Decision:
    if c is not None and now - c.last_at > rule.forget:
        c = None
    if c is not None and c.blocked_until is not None and now < c.blocked_until:
        return Decision(False, _seconds(c.blocked_until - now), None)
    count = (c.count if c else 0) + 1
    blocked = None
    if count >= rule.free and rule.delays:
        delay = rule.delays[min(count - rule.free, len(rule.delays) - 1)]
        blocked = now + timedelta(seconds=delay)
    return Decision(True, 0, Counter(count, c.started_at if c else now, now, blocked))


def window_attempt(c: Counter | None, now: datetime, rule: WindowRule) -> Decision:
    if c is None or now >= c.started_at + rule.window:
        c = Counter(0, now, now)
    if c.count >= rule.limit:
        return Decision(False, _seconds(c.started_at + rule.window - now), None)
    return Decision(True, 0, replace(c, count=c.count + 1, last_at=now))


def window_success(c: Counter) -> Counter:
    """A counted attempt turned out to be a correct login: it was not a failure."""
    return replace(c, count=max(0, c.count - 1))


def wait_message(seconds: int) -> str:
    if seconds < 60:
        return f"尝试次数过多，请 {seconds} 秒后再试。"
    return f"尝试次数过多，请 {(seconds + 59) // 60} 分钟后再试。"


@dataclass(frozen=True)
class SessionRule:
    idle: timedelta = timedelta(hours=3)
    absolute: timedelta = timedelta(hours=12)
    touch: timedelta = timedelta(minutes=1)  # how stale last_seen may get before it is written


def session_cutoffs(now: datetime, rule: SessionRule) -> tuple[datetime, datetime]:
    """A session is alive if seen after the first and created after the second."""
    return now - rule.idle, now - rule.absolute


def needs_touch(last_seen: datetime, now: datetime, rule: SessionRule) -> bool:
    return now - last_seen >= rule.touch


MIN_PASSWORD = 8
MAX_PASSWORD = 256  # argon2 takes any length; this only stops a megabyte "password"
# zxcvbn's estimate: below 10^6 guesses (score 0-1) a password falls to a throttled online
# guesser within months, and to any offline one at once.
MIN_SCORE = 2


def password_problem(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why a new password is refused (a Chinese sentence), or None. ASVS 6.2.1: at least
    8 characters; 6.2.4: not one of the common passwords (zxcvbn's list of the 30,000 most
    common, from leaked sets, MIT licence) and not easily guessed from the username."""
    from zxcvbn import zxcvbn
    from zxcvbn.matching import RANKED_DICTIONARIES

    password = password or ""
    if len(password) < MIN_PASSWORD:
        return f"密码至少需要 {MIN_PASSWORD} 个字符。"
    if len(password) > MAX_PASSWORD:
        return f"密码最多 {MAX_PASSWORD} 个字符。"
    common = "这个密码太常见，很容易被猜到（例如 12345678、88888888、用户名加数字），请换一个不常见的密码，可以用几个词和数字组成。"
    if password.lower() in RANKED_DICTIONARIES["passwords"]:
        return common
    inputs = [s for s in user_inputs if s]
    if zxcvbn(password[:100], user_inputs=inputs)["score"] < MIN_SCORE:
        return common
    return None
