"""Stocktake rules with plain values: what each scan is, and what comes back by itself."""

from __future__ import annotations

from library_app.domain.stocktake import CopyFacts, classify, found_again, progress


def facts(**kw) -> CopyFacts:
    base = {"id": 1, "code": "B0000018", "status": "available", "current_point_id": 1,
            "current_point": "P01 三灶", "title": "小熊很忙", "on_loan": False, "expected": True}
    base.update(kw)
    return CopyFacts(**base)


def test_each_kind_of_scan():
    assert classify(None, point_id=1, already_scanned=False).status == "unknown"
    assert classify(facts(), point_id=1, already_scanned=False).status == "found"
    assert classify(facts(), point_id=1, already_scanned=True).status == "duplicate"
    away = classify(facts(expected=False, current_point_id=2, current_point="P02 南屏"), point_id=1,
                    already_scanned=False)
    assert away.status == "elsewhere" and away.where == "P02 南屏" and "P02 南屏" in away.message
    lent = classify(facts(status="on_loan", on_loan=True, expected=False), point_id=1, already_scanned=False)
    assert lent.status == "on_loan" and not lent.back  # never returned by a stocktake
    assert classify(facts(status="withdrawn", expected=False), point_id=1, already_scanned=False).status == "unknown"
    late = classify(facts(expected=False), point_id=1, already_scanned=False)
    assert late.status == "found" and late.late


def test_missing_or_lost_copies_found_come_back():
    back = classify(facts(status="missing"), point_id=1, already_scanned=False)
    assert back.status == "found" and back.back and "缺失" in back.message
    assert classify(facts(status="lost", expected=False, current_point_id=2), point_id=1,
                    already_scanned=False).back
    assert found_again("missing")
    assert not any(found_again(s) for s in ("available", "on_loan", "lost", "damaged", "withdrawn"))


def test_progress_is_whole_percent_never_over_100():
    assert progress(0, 0) == 0 and progress(1, 0) == 100
    assert progress(1, 3) == 33 and progress(5, 4) == 100
