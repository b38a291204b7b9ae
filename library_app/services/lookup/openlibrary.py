"""Open Library's JSON API: ``GET {url}/isbn/{isbn}.json``, then the author and work records the
edition names (``/authors/OL…A.json``, ``/works/OL…W.json``). Plain urllib, each request bounded by
what is left before the lookup's deadline."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from library_app.domain import marc

USER_AGENT = "library_app ISBN lookup (children's reading points)"
MAX_BYTES = 2 * 1024 * 1024
MAX_AUTHORS = 4


class SourceError(Exception):
    pass


class SourceTimeout(SourceError):
    pass


def _get_json(url: str, deadline: float, clock: Callable[[], float]) -> dict[str, Any] | None:
    """The JSON object at ``url``; None for 404; SourceTimeout / SourceError otherwise."""
    remaining = deadline - clock()
    if remaining <= 0.01:
        raise SourceTimeout("没有在限定时间内回应")
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=remaining) as response:  # noqa: S310 - http(s) only
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise SourceError(f"HTTP {exc.code}") from None
    except TimeoutError as exc:
        raise SourceTimeout("没有在限定时间内回应") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise SourceTimeout("没有在限定时间内回应") from exc
        raise SourceError(f"无法连接：{exc.reason}") from exc
    except OSError as exc:
        raise SourceError(f"无法连接：{exc}") from exc
    if len(body) > MAX_BYTES:
        raise SourceError("回应太大")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceError("回应不是 JSON") from exc
    if not isinstance(data, dict):
        raise SourceError("回应不是 JSON 对象")
    return data


def _result(job: Future[dict[str, Any] | None] | None, deadline: float,
            clock: Callable[[], float]) -> dict[str, Any] | None:
    """A secondary record (work, author), or None when it failed or came too late: the edition
    alone is still worth showing."""
    if job is None:
        return None
    try:
        return job.result(timeout=max(0.0, deadline - clock()))
    except (SourceError, FutureTimeout):
        return None


def fetch(base_url: str, isbn13: str, source_name: str, deadline: float,
          clock: Callable[[], float] = time.monotonic) -> marc.BookRecord | None:
    """The record for an ISBN, or None when Open Library does not know it."""
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise SourceError("网址需以 http:// 或 https:// 开头")
    edition = _get_json(f"{base}/isbn/{isbn13}.json", deadline, clock)
    if edition is None:
        return None
    work_key = marc.ol_work_key(edition)
    want_work = bool(work_key) and (not edition.get("authors") or not edition.get("description"))
    keys = marc.ol_author_keys(edition)[:MAX_AUTHORS]
    # the work and the authors the edition names are asked at once (one round trip, not three)
    pool = ThreadPoolExecutor(max_workers=1 + len(keys), thread_name_prefix="openlibrary")
    try:
        work_job = pool.submit(_get_json, f"{base}{work_key}.json", deadline, clock) if want_work else None
        author_jobs = [pool.submit(_get_json, f"{base}{key}.json", deadline, clock) for key in keys]
        work = _result(work_job, deadline, clock)
        if not keys and work:  # the edition names no author: the work does
            author_jobs = [pool.submit(_get_json, f"{base}{key}.json", deadline, clock)
                           for key in marc.ol_author_keys(edition, work)[:MAX_AUTHORS]]
        names: list[str] = []
        for job in author_jobs:
            author = _result(job, deadline, clock) or {}
            name = author.get("name") or author.get("personal_name")
            if isinstance(name, str):
                names.append(name)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return marc.map_openlibrary(edition, source_name, names, work)
