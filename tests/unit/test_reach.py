"""What a point-bound user may touch (domain/reach.py): story mothers and point leads."""

from __future__ import annotations

import pytest

from library_app.domain import reach


def test_who_sees_the_borrower_of_a_copy():
    # (role, her points, the child's home point): a story mother or point lead sees her points'
    # children only (issue 13.1, 20); a child of another point, even one who borrowed at hers, is masked.
    assert reach.borrower_visibility("librarian", [], "P01") == "full"
    assert reach.borrower_visibility("admin", [], "P09") == "full"
    for role in ("story_mother", "point_lead"):
        assert reach.borrower_visibility(role, ["P01"], "P01") == "full"
        assert reach.borrower_visibility(role, ["P01", "P02"], "P02") == "full"
        assert reach.borrower_visibility(role, ["P01"], "P02") == "masked"
        assert reach.borrower_visibility(role, [], "") == "masked"
    assert reach.borrower_visibility("viewer", [], "P01") == "none"


def test_a_point_lead_acts_at_her_points_only():
    reach.check_point("point_lead", ["P01"], "P01")
    reach.check_point("librarian", [], "P02")
    with pytest.raises(reach.PointNotHers) as exc:
        reach.check_point("point_lead", ["P01"], "P02", "不能在那里添加馆藏")
    assert exc.value.status == 403 and "P02" in exc.value.message and "添加馆藏" in exc.value.message


def test_she_edits_only_the_titles_she_added():
    assert reach.may_edit_title("librarian", 7, None)
    assert reach.may_edit_title("point_lead", 7, 7)
    assert not reach.may_edit_title("point_lead", 7, 8)
    assert not reach.may_edit_title("point_lead", 7, None)  # added before leads existed: the librarians'
    assert not reach.may_edit_title("story_mother", 7, 7)
    with pytest.raises(reach.TitleNotHers):
        reach.check_may_edit_title("point_lead", 7, None)


def test_her_reports_are_of_one_of_her_points():
    assert reach.report_point("librarian", [], None) is None          # the whole organisation
    assert reach.report_point("viewer", [], "p02") == "P02"
    assert reach.report_point("point_lead", ["P03", "P01"], None) == "P01"  # her first point
    assert reach.report_point("point_lead", ["P01", "P03"], "p03") == "P03"
    with pytest.raises(reach.PointNotHers):
        reach.report_point("point_lead", ["P01"], "P02")
    with pytest.raises(reach.PointNotHers):
        reach.report_point("point_lead", [], None)
