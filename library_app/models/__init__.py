"""Typed SQLAlchemy models, one module per area."""

from .admin import AuditLog, HealthCheck, MonthlyTally, Setting, YearTarget
from .base import Base, utcnow
from .borrowers import Borrower, Card
from .catalog import Copy, Title, Transfer, TransferItem
from .circulation import CirculationEvent, Loan, LoanRenewal, ReviewItem
from .points import Point
from .stocktake import Stocktake, StocktakeItem, StocktakeScan
from .users import ApiToken, User, user_points

__all__ = [
    "ApiToken", "AuditLog", "Base", "HealthCheck", "Borrower", "Card", "CirculationEvent", "Copy", "Loan",
    "LoanRenewal", "MonthlyTally", "Point", "ReviewItem", "Setting", "Stocktake", "StocktakeItem", "StocktakeScan", "Title", "Transfer",
    "TransferItem",
    "User", "YearTarget", "user_points", "utcnow",
]
