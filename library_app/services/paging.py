"""One page of a list (titles found, children, transfers): its rows and where it is in the whole."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PER_PAGE = 20


def last_page(total: int, per_page: int) -> int:
    """The number of the last page of ``total`` rows (1 when there are none)."""
    return max(1, math.ceil(total / per_page))


@dataclass
class Page:
    items: list[Any]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return last_page(self.total, self.per_page)
