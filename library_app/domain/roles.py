"""The roles of the people who use the library, and who of them may do what (product.md, Roles).

One place for the vocabulary: routes (``access.roles``), rules (``domain.loans``, ``domain.borrowers``),
the navigation and the reports all name roles from here.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    LIBRARIAN = "librarian"
    POINT_LEAD = "point_lead"
    STORY_MOTHER = "story_mother"
    VIEWER = "viewer"


ALL_ROLES: tuple[Role, ...] = tuple(Role)
# catalog, borrowers, circulation at any point, the review queue, every report
STAFF: tuple[Role, ...] = (Role.ADMIN, Role.LIBRARIAN)
# a librarian's powers: children, copies, labels, cards, overdue lists, the review queue,
# stocktakes, kiosks (a point lead at her own points only)
LIBRARIANS: tuple[Role, ...] = (*STAFF, Role.POINT_LEAD)
# lend, return, renew, undo (a story mother and a point lead at their points only)
CIRCULATION: tuple[Role, ...] = (*LIBRARIANS, Role.STORY_MOTHER)
# may see a child's personal data (a story mother masked and at her points)
PERSONAL_DATA: tuple[Role, ...] = CIRCULATION
# aggregate reports: no personal data (a board member or funder is a viewer; a point lead
# reads her points' figures only)
REPORT_READERS: tuple[Role, ...] = (*LIBRARIANS, Role.VIEWER)

# whose powers end at the points they are assigned to (a point lead: a librarian's there)
POINT_BOUND: tuple[Role, ...] = (Role.POINT_LEAD, Role.STORY_MOTHER)

ROLE_NAMES: dict[str, str] = {
    Role.ADMIN: "管理员", Role.LIBRARIAN: "图书管理员", Role.POINT_LEAD: "阅读点负责人",
    Role.STORY_MOTHER: "故事妈妈", Role.VIEWER: "查看者",
}


def is_staff(role: str) -> bool:
    return role in STAFF


def is_point_bound(role: str) -> bool:
    """Acts only at her own points (a story mother, a point lead)."""
    return role in POINT_BOUND


# who may invite new accounts, and for which roles (product.md, Community-run points): an
# admin any role but admin, a librarian story mothers and point leads, a point lead story
# mothers at her own points
INVITABLE: dict[str, tuple[Role, ...]] = {
    Role.ADMIN: (Role.LIBRARIAN, Role.POINT_LEAD, Role.STORY_MOTHER, Role.VIEWER),
    Role.LIBRARIAN: (Role.POINT_LEAD, Role.STORY_MOTHER),
    Role.POINT_LEAD: (Role.STORY_MOTHER,),
}
INVITERS: tuple[Role, ...] = (Role.ADMIN, Role.LIBRARIAN, Role.POINT_LEAD)
