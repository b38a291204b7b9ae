"""Book label sheets: which copies, and each label's QR as an inline SVG path.

The QR content is ``domain.codes.qr_content`` (the /s/<code> URL when a public base URL is set,
else the bare code), encoded by ``services.qr`` (qrcode, error correction M, 2-module border)
and drawn as one SVG path of horizontal runs, so a sheet prints crisp at any size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from library_app.domain import catalog as rules
from library_app.domain.codes import make_code, parse_code, qr_content, sequence_number
from library_app.domain.roles import is_point_bound
from library_app.domain.statuses import CopyStatus
from library_app.models import Copy, Point, User

from .errors import Invalid, NotFound
from .qr import qr_matrix

MAX_LABELS = 2000
PRINTABLE = (CopyStatus.AVAILABLE, CopyStatus.ON_LOAN, CopyStatus.DAMAGED)


@dataclass(frozen=True)
class Label:
    code: str
    title: str
    point_code: str
    point_name: str
    content: str
    qr_size: int
    qr_path: str


@dataclass
class LabelSheets:
    layout: rules.LabelLayout
    sheets: list[list[Label | None]]
    count: int


@lru_cache(maxsize=8192)
def qr_path(content: str) -> tuple[int, str]:
    """(size in modules with the quiet zone, SVG path data) for a QR of ``content``."""
    matrix = qr_matrix(content)
    size = len(matrix)
    parts: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return size, "".join(parts)


def select_copies(
    session: Session, actor: User, *, mode: str, tz: ZoneInfo, since: date | None = None,
    title_id: int | None = None, code_from: str = "", code_to: str = "", point: str = "",
    include_all_statuses: bool = False,
) -> list[Copy]:
    """Copies to print: added since a day, of one title, or a range of codes; ordered by code;
    a point lead's of her points only."""
    q = select(Copy).options(joinedload(Copy.title), joinedload(Copy.home_point))
    if mode == "since":
        if since is None:
            raise Invalid("请选择从哪一天起新增的馆藏。")
        start = datetime.combine(since, time.min, tzinfo=tz).astimezone(UTC)
        q = q.where(Copy.created_at >= start)
    elif mode == "title":
        if not title_id:
            raise Invalid("请先选择书目。")
        q = q.where(Copy.title_id == title_id)
    elif mode == "range":
        if not code_from or not code_to:
            raise Invalid("请填写起止编码，如 B0000017 到 B0000123。")
        first = sequence_number(parse_code(code_from, expect="copy").code)
        last = sequence_number(parse_code(code_to, expect="copy").code)
        if last < first:
            first, last = last, first
        if last - first + 1 > MAX_LABELS:
            raise Invalid(f"一次最多打印 {MAX_LABELS} 张标签，请缩小编码范围。")
        q = q.where(Copy.code.in_([make_code("copy", n) for n in range(first, last + 1)]))
    else:
        raise Invalid("请选择按什么挑选要打印的馆藏。")
    if point:
        point_id = session.scalar(select(Point.id).where(Point.code == point.strip().upper()))
        if point_id is None:
            raise NotFound(f"没有编号为 {point} 的阅读点。")
        q = q.where(Copy.home_point_id == point_id)
    if not include_all_statuses:
        q = q.where(Copy.status.in_(PRINTABLE))
    if is_point_bound(actor.role):  # a point lead prints her points' labels
        q = q.where(Copy.home_point_id.in_([p.id for p in actor.points]))
    copies = list(session.scalars(q.limit(MAX_LABELS + 1)))
    if len(copies) > MAX_LABELS:
        raise Invalid(f"一次最多打印 {MAX_LABELS} 张标签，请缩小范围。")
    copies.sort(key=lambda c: (len(c.code), c.code))
    return copies


def make_labels(copies: Sequence[Copy], public_base_url: str | None, title_chars: int) -> list[Label]:
    labels: list[Label] = []
    for c in copies:
        content = qr_content(c.code, public_base_url)
        size, path = qr_path(content)
        labels.append(Label(
            code=c.code, title=rules.short_title(c.title.title, title_chars),
            point_code=c.home_point.code, point_name=rules.short_title(c.home_point.name, 12),
            content=content, qr_size=size, qr_path=path,
        ))
    return labels


def build_sheets(
    copies: Sequence[Copy], layout_key: str, start: int, public_base_url: str | None,
) -> LabelSheets:
    layout = rules.LAYOUTS.get(layout_key)
    if layout is None:
        raise Invalid("没有这种标签纸规格。")
    title_chars = 18 if layout.width >= 60 else 12
    labels = make_labels(copies, public_base_url, title_chars)
    cells = rules.place_labels(len(labels), layout, start)
    sheets = [[labels[i] if i is not None else None for i in sheet] for sheet in cells]
    return LabelSheets(layout=layout, sheets=sheets, count=len(labels))
