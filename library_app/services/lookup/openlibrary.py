"""Open Library's JSON API: ``GET {url}/isbn/{isbn}.json``, then the author and work records the
edition names (``/authors/OL…A.json``, ``/works/OL…W.json``). Plain urllib, each request bounded by
what is left before the lookup's deadline."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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


def fetch(base_url: str, isbn13: str, source_name: str, deadline: float,
          clock: Callable[[], float] = time.monotonic) -> marc.BookRecord | None:
    """The record for an ISBN, or None when Open Library does not know it."""
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise SourceError("网址需以 http:// 或 https:// 开头")
    edition = _get_json(f"{base}/isbn/{isbn13}.json", deadline, clock)
    if edition is None:
        return None
    work: dict[str, Any] | None = None
    work_key = marc.ol_work_key(edition)
    if work_key and (not edition.get("authors") or not edition.get("description")):
        try:
            work = _get_json(f"{base}{work_key}.json", deadline, clock)
        except SourceError:
            work = None  # the edition alone is still worth showing
    names: list[str] = []
    for key in marc.ol_author_keys(edition, work)[:MAX_AUTHORS]:
        try:
            author = _get_json(f"{base}{key}.json", deadline, clock)
        except SourceError:
            continue
        name = (author or {}).get("name") or (author or {}).get("personal_name")
        if isinstance(name, str):
            names.append(name)
    return marc.map_openlibrary(edition, source_name, names, work)
