"""Stocktake rules (盘点), with no Flask and no database.

A stocktake counts one point's shelves. When it opens it takes a snapshot of what should be
there: the copies whose current point it is, except withdrawn ones and those out on loan (a
child has them at home; a stocktake is not the place to chase loans). Each scan is then one of:

- ``found``: in the snapshot, seen now;
- ``elsewhere``: the catalog puts it at another point (the answer says which);
- ``on_loan``: recorded as lent, yet on the shelf: listed for a librarian, never returned here;
- ``unknown``: no such copy (or a withdrawn one);
- ``duplicate``: this copy was already scanned in this stocktake, or this scan id was sent before.

Only closing marks anything missing (缺失), and only copies of the snapshot that were not found,
are still at that point and neither lent nor withdrawn meanwhile: a partial count touches nothing
outside its point, and nothing is ever deleted. A missing copy that turns up later (scanned in a
stocktake, lent, returned) is available (or on loan) again by itself: ``found_again``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import RuleBroken

MISSING = "missing"
SCAN_STATUSES = ("found", "elsewhere", "on_loan", "unknown", "duplicate")
# statuses a scan of one copy may have only once per stocktake
COUNTED = ("found", "elsewhere", "on_loan")
# copy statuses left out of the snapshot at open
NOT_EXPECTED = ("withdrawn", "on_loan")
# copy statuses that closing turns into ``missing`` (a lost copy stays lost: it was already
# written off after a loan; one already missing keeps the date it went missing)
BECOME_MISSING = ("available", "damaged")
MAX_SCANS = 200  # per request

ScanStatus = Literal["found", "elsewhere", "on_loan", "unknown", "duplicate"]


class StocktakeAlreadyOpen(RuleBroken):
    code = "stocktake_open"
    message = "这个阅读点已经有一次正在进行的盘点：请继续那一次，或先结束它。"
    status = 409


class StocktakeClosed(RuleBroken):
    code = "stocktake_closed"
    message = "这次盘点已经结束。"
    status = 409


class BadScan(RuleBroken):
    code = "invalid_scan"
    message = "扫描记录格式不对：每条需要 id（手机生成的编号）和 copy（书的编码）。"
    status = 422


def found_again(copy_status: str) -> bool:
    """A copy that a stocktake marked missing is back as soon as it turns up anywhere (a
    stocktake scan, a loan, a return): the circulation paths call this where they set a copy's
    status, and make a copy for which it is true ``available`` (or ``on_loan`` when lent)."""
    return copy_status == MISSING


@dataclass(frozen=True)
class CopyFacts:
    """What a scan needs to know about one copy, read in one go."""

    id: int
    code: str
    status: str
    current_point_id: int
    current_point: str  # "P02 南屏" for the answer
    title: str
    on_loan: bool  # it has an open loan
    expected: bool  # in this stocktake's snapshot


@dataclass(frozen=True)
class Verdict:
    status: ScanStatus
    message: str
    where: str = ""  # the point an ``elsewhere`` copy belongs to
    back: bool = False  # the copy was missing or lost and is here again: make it available
    late: bool = False  # at this point but not in the snapshot (arrived after it was taken)


def classify(copy: CopyFacts | None, *, point_id: int, already_scanned: bool) -> Verdict:
    """What one scan of ``copy`` in a stocktake at ``point_id`` is."""
    if copy is None:
        return Verdict("unknown", "没有这本书的记录：请把书交给图书管理员核对。")
    name = f"《{copy.title}》" if copy.title else copy.code
    if already_scanned:
        return Verdict("duplicate", f"{name}已经扫过了，不用再扫。")
    if copy.status == "withdrawn":
        return Verdict("unknown", f"{name}已剔除（不再外借），不应在书架上：请交给图书管理员。")
    if copy.on_loan or copy.status == "on_loan":
        return Verdict("on_loan", f"{name}登记为借出中，却在书架上：已列入待核对清单（盘点不会替它归还）。")
    back = copy.status in (MISSING, "lost")
    if copy.expected:
        return Verdict("found", f"{name}找到了。" + ("原登记为缺失，现已恢复在馆。" if back else ""), back=back)
    if copy.current_point_id != point_id:
        return Verdict("elsewhere", f"{name}属于 {copy.current_point}，不是这个阅读点的书：请放到一边，交给图书管理员。",
                       where=copy.current_point, back=back)
    return Verdict("found", f"{name}找到了（盘点开始后才登记到这里）。", back=back, late=True)


def scan_text(value: object, limit: int) -> str:
    return str(value if value is not None else "").strip()[:limit]


STATUS_WORDS = {"found": "找到", "elsewhere": "属于别的阅读点", "on_loan": "登记为借出",
                "unknown": "不认识的编码", "duplicate": "已经扫过"}


def progress(found: int, expected: int) -> int:
    """Percent found, whole, never over 100 (late arrivals count as found too)."""
    if expected <= 0:
        return 100 if found else 0
    return min(100, (found * 100) // expected)
