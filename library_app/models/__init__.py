"""Typed SQLAlchemy models, one module per area."""

from .activities import (
    Activity,
    ActivityCard,
    ActivityTitle,
    ActivityVolunteer,
    FigureTarget,
    Volunteer,
)
from .admin import AuditLog, HealthCheck, MonthlyTally, Setting, YearTarget
from .base import Base, utcnow
from .borrowers import Borrower, Card
from .catalog import Copy, Title, Transfer, TransferItem
from .circulation import CirculationEvent, Loan, LoanDay, LoanRenewal, LoanYearChild, ReviewItem
from .invites import Invitation, invitation_points
from .kiosk import Kiosk
from .lookup import LookupSourceRow
from .points import Point
from .stocktake import Stocktake, StocktakeItem, StocktakeScan, StocktakeTally
from .users import ApiToken, LoginThrottle, User, UserSession, user_points

__all__ = [
    "Activity", "ActivityCard", "ActivityTitle", "ActivityVolunteer", "FigureTarget", "Volunteer",
    "ApiToken", "AuditLog", "Base", "Borrower", "Card", "CirculationEvent", "Copy", "HealthCheck", "Invitation",
    "Kiosk",
    "Loan", "LoanDay", "LoanRenewal", "LoanYearChild", "LoginThrottle", "LookupSourceRow", "MonthlyTally", "Point", "ReviewItem",
    "Setting", "Stocktake", "StocktakeItem", "StocktakeScan", "StocktakeTally", "Title", "Transfer",
    "TransferItem",
    "User", "UserSession", "YearTarget", "invitation_points", "user_points", "utcnow",
]
