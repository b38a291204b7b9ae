"""What one request knows about itself, in one typed place.

``flask.g`` holds a single :class:`RequestState`; modules read and set its fields through
:func:`current` instead of poking at ``g`` attributes by name. The view's declarations
(``access.writes``, ``access.lean_actor``, ``access.personal_data``)
are copied in by the access hook before anything loads the signed-in user; the session and the
commit point live in :mod:`library_app.db`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import g

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from library_app.domain.settings import LibrarySettings

@dataclass
class RequestState:
    # declared by the view (access.py decorators)
    writes: bool = False  # a GET that writes: its session takes the write lock
    lean_actor: bool = False  # the signed-in user is read as one plain row
    personal_data: bool = False  # the answer shows a child's data: never cached
    # learned while the request runs
    bearer_client: bool = False  # signed in by a bearer token (no CSRF)
    settings: LibrarySettings | None = None  # the organisation's settings, read once
    session: Session | None = None  # the request's database session (db.get_session)
    discard: bool = False  # nothing of the request is saved, whatever the answer (db.discard_changes)
    finished: bool = False  # the commit point has run (db.end_request)
    after_commit: list[Callable[[], None]] = field(default_factory=list)


def current() -> RequestState:
    """This request's (or CLI command's) state, created on first use."""
    state = g.get("library_request")
    if state is None:
        state = g.library_request = RequestState()
    return state


def pop() -> RequestState | None:
    """The state, taken out of ``g`` (teardown)."""
    return g.pop("library_request", None)
