from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class LookupSourceRow(Base):
    """A source the ISBN lookup asks (套录来源), set on the settings page, in ``position`` order.

    The password is kept for the Z39.50 login and never shown back on any page.
    """

    __tablename__ = "lookup_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # z3950 or openlibrary
    host: Mapped[str] = mapped_column(String(200), default="")
    port: Mapped[int] = mapped_column(default=210)
    database: Mapped[str] = mapped_column(String(100), default="")
    syntax: Mapped[str] = mapped_column(String(16), default="unimarc")
    encoding: Mapped[str] = mapped_column(String(16), default="utf-8")
    user: Mapped[str] = mapped_column(String(100), default="")
    password: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
