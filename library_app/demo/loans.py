"""The demo's loans: each point's story sessions from the first day up to now, written as
loan, renewal and copy rows (one random generator, drawn in a fixed order: keep it)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from library_app.domain.reports import local_day
from library_app.domain.statuses import CopyStatus
from library_app.models import Copy, Loan, LoanRenewal, Point, User

from .context import Demo, local, season
from .data import POINTS


class StorySessions:
    """Each point's story sessions from the first day up to now: children bring back what they
    borrowed (now and then a book is forgotten, and sometimes renewed), then borrow one to three."""

    def __init__(self, demo: Demo, shelf: dict[int, list[int]], title_of: dict[int, int],
                 children: list[dict[str, Any]]) -> None:
        self.demo, self.rng = demo, demo.rng
        self.shelf, self.title_of, self.children = shelf, title_of, children
        self.loans: list[dict[str, Any]] = []
        self.renewed: list[tuple[dict[str, Any], datetime, datetime, int | None]] = []  # loan, when, due before, by
        self.open_by_child: dict[int, list[dict[str, Any]]] = {c["id"]: [] for c in children}

    def run(self, points: list[Point], mothers: list[User | None], librarian: User) -> None:
        by_point: dict[int, list[dict[str, Any]]] = {p.id: [] for p in points}
        for child in self.children:
            by_point[child["point"].id].append(child)
        day = self.demo.first_day
        while day <= self.demo.today:
            for spec, point, mother in zip(POINTS, points, mothers, strict=True):
                self._story_session(day, spec, point, mother, librarian, by_point[point.id])
            day += timedelta(days=1)
        self._write()

    def _story_session(self, day: date, spec: tuple[Any, ...], point: Point, mother: User | None,
                       librarian: User, children: list[dict[str, Any]]) -> None:
        rng, tz, now = self.rng, self.demo.tz, self.demo.now
        weekdays, size = spec[3], spec[4]
        if day.weekday() not in weekdays:
            return
        begin = (14 * 60 + 30) if day.weekday() >= 5 else (16 * 60 + 30)
        if local(day, begin, tz) > now:
            return
        if rng.random() < 0.04:  # a session cancelled (rain, holiday)
            return
        attendance = season(day) * (0.55 + 0.25 * size) / (1.35 if len(weekdays) > 1 else 1.0)
        for child in children:
            if child["joined"] > day or (child["stops"] is not None and day >= child["stops"]):
                continue
            if rng.random() > child["activity"] * attendance:
                continue
            at = local(day, begin + rng.randrange(0, 150), tz)
            if at > now:
                continue
            handler = mother if (mother is not None and rng.random() < 0.9) else librarian
            keep = self._bring_back(child, at, point, handler)
            self._borrow(child, at, point, handler, wanted=min(rng.choice((1, 1, 2, 2, 2, 3)), 3 - len(keep)))

    def _bring_back(self, child: dict[str, Any], at: datetime, point: Point, handler: User | None,
                    ) -> list[dict[str, Any]]:
        """Return what the child brings back; → the loans still kept (some renewed)."""
        keep = []
        for loan in self.open_by_child[child["id"]]:
            if self.rng.random() < 0.88:
                loan["returned_at"] = at
                loan["return_point_id"] = point.id
                loan["returned_by_id"] = handler.id if handler is not None else None
                loan["return_kind"] = "normal"
                self.shelf[point.id].append(loan["copy_id"])
            else:
                keep.append(loan)
                if loan["renewals"] == 0 and self.rng.random() < 0.3 and loan["due_at"] > at:
                    self.renewed.append((loan, at, loan["due_at"], handler.id if handler else None))
                    loan["renewals"] = 1
                    loan["due_at"] = loan["due_at"] + timedelta(days=14)
        self.open_by_child[child["id"]] = keep
        return keep

    def _borrow(self, child: dict[str, Any], at: datetime, point: Point, handler: User | None,
                wanted: int) -> None:
        """Borrow up to ``wanted`` books from the point's shelf (now and then a mis-scan, undone)."""
        rng, shelf = self.rng, self.shelf[point.id]
        for k in range(max(wanted, 0)):
            if not shelf:
                break
            copy_id = shelf.pop(rng.randrange(len(shelf)))
            lent_at = at + timedelta(seconds=20 * k + rng.randrange(0, 15))
            loan = {
                "copy_id": copy_id, "title_id": self.title_of[copy_id], "borrower_id": child["id"],
                "card_id": child["card_id"], "point_id": point.id,
                "lent_by_id": handler.id if handler is not None else None,
                "lent_at": lent_at, "lent_day": local_day(lent_at, self.demo.tz),
                "due_at": lent_at + timedelta(days=self.demo.settings.loan_days),
                "renewals": 0, "returned_at": None, "return_point_id": None,
                "returned_by_id": None, "return_kind": "", "undone_at": None,
                "source": "scan", "outcome": "",
            }
            if rng.random() < 0.006:  # a mis-scan, undone on the spot
                undo_at = lent_at + timedelta(minutes=1)
                loan.update(undone_at=undo_at, returned_at=undo_at, return_kind="undo",
                            return_point_id=point.id, returned_by_id=loan["lent_by_id"])
                shelf.append(copy_id)
            else:
                self.open_by_child[child["id"]].append(loan)
            self.loans.append(loan)

    def _write(self) -> None:
        """The loans, their renewals (with the due date each replaced: the reports' "overdue at
        the end") and the copies still out."""
        session, summary, now = self.demo.session, self.demo.summary, self.demo.now
        if self.loans:
            session.execute(insert(Loan), self.loans)
        if self.renewed:
            ids = {(r.copy_id, r.lent_at): r.id for r in session.execute(
                select(Loan.id, Loan.copy_id, Loan.lent_at).where(Loan.renewals > 0))}
            session.execute(insert(LoanRenewal), [
                {"loan_id": ids[(loan["copy_id"], loan["lent_at"])], "renewed_at": when,
                 "due_before": before, "due_after": loan["due_at"], "renewed_by_id": by}
                for loan, when, before, by in self.renewed])
        open_copy_ids = [loan["copy_id"] for loan in self.loans if loan["returned_at"] is None]
        for chunk in range(0, len(open_copy_ids), 500):
            session.execute(update(Copy).where(Copy.id.in_(open_copy_ids[chunk:chunk + 500]))
                            .values(status=CopyStatus.ON_LOAN))
        summary.loans = sum(1 for loan in self.loans if loan["undone_at"] is None)
        summary.open_loans = len(open_copy_ids)
        summary.overdue = sum(1 for loan in self.loans if loan["returned_at"] is None and loan["due_at"] < now)
