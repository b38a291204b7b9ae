"""Label sheets (标签): choose the copies (added since a day, of one title, a range of codes, at a
point), then a printable A4 sheet of QR labels. Part of the catalog blueprint."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, render_template, request
from flask_login import current_user

from library_app.access import LIBRARIANS, roles
from library_app.db import get_session
from library_app.domain import catalog as rules
from library_app.domain.dates import parse_day
from library_app.domain.errors import RuleBroken
from library_app.models import Copy, Title
from library_app.services import catalog as service
from library_app.services import catalog_search as search
from library_app.services import labels as labels_service
from library_app.services import points as points_service
from library_app.services.errors import Invalid, NotFound
from library_app.web import org_tz, utcnow

from .views import _base_url, bp


def _label_args() -> dict[str, Any]:
    a = request.args
    today = utcnow().astimezone(org_tz()).date()
    return {
        "mode": a.get("mode", "since"),
        "since": a.get("since", today.isoformat()),
        "title": a.get("title", ""),
        "code_from": a.get("code_from", ""),
        "code_to": a.get("code_to", ""),
        "point": a.get("point", ""),
        "layout": a.get("layout", "3x8") if a.get("layout") in rules.LAYOUTS else "3x8",
        "start": a.get("start", "1"),
        "all_statuses": "1" if a.get("all_statuses") == "1" else "",
    }


def _resolve_title(db: Any, text: str) -> tuple[Title | None, list[Title]]:
    """A title picked by id, ISBN or name; several candidates when the name is ambiguous."""
    text = (text or "").strip()
    if not text:
        return None, []
    if text.isdigit() and len(text) < 10:
        title = db.get(Title, int(text))
        return title, []
    try:
        by_isbn = service.find_by_isbn(db, text) if len(text) >= 10 else None
    except RuleBroken:
        by_isbn = None
    if by_isbn is not None:
        return by_isbn, []
    page = search.search_titles(db, text, per_page=8)
    exact = [t for t in page.items if t.title == text]
    if len(exact) == 1 or page.total == 1:
        return (exact or page.items)[0], []
    return None, page.items


@bp.get("/labels")
@roles(*LIBRARIANS)
def labels():
    db = get_session()
    args = _label_args()
    title, _ = _resolve_title(db, args["title"]) if args["mode"] == "title" else (None, [])
    return render_template("catalog/labels.html", args=args, layouts=rules.LAYOUTS,
                           points=points_service.list_points(db), title=title)


@bp.get("/labels/sheet")
@roles(*LIBRARIANS)
def label_sheet():
    db = get_session()
    args = _label_args()
    candidates: list[Title] = []
    title = None
    try:
        since = None
        if args["mode"] == "since":
            since = parse_day(args["since"])
        if args["mode"] == "title":
            title, candidates = _resolve_title(db, args["title"])
            if title is None and not candidates:
                raise NotFound("找不到这个书目，请输入书名、ISBN 或从书目页面点“打印标签”。")
        try:
            start = int(args["start"] or 1)
        except ValueError:
            raise Invalid("起始位置应为数字。") from None
        if candidates:
            raise Invalid("有多个书目符合，请在下面选一个。")
        copies = _select(db, args, since, title)
        if not copies:
            raise NotFound("没有符合条件的馆藏（已遗失、已剔除的书默认不打印）。")
        sheets = labels_service.build_sheets(copies, args["layout"], start, _base_url())
    except RuleBroken as exc:
        flash(exc.message, "error")
        return render_template("catalog/labels.html", args=args, layouts=rules.LAYOUTS,
                               points=points_service.list_points(db), title=title,
                               candidates=candidates), exc.status
    return render_template("catalog/label_sheet.html", sheets=sheets, args=args, title=title)


def _select(db: Any, args: dict[str, Any], since: date | None,
                          title: Title | None) -> list[Copy]:
    return labels_service.select_copies(
        db, current_user, mode=args["mode"], tz=org_tz(), since=since, title_id=title.id if title else None,
        code_from=args["code_from"], code_to=args["code_to"], point=args["point"],
        include_all_statuses=args["all_statuses"] == "1",
    )
