"""Stocktakes (盘点): open one at a point, record scans from any number of phones, close it.

Two rooms: ``recording`` (the writes: open with its snapshot, the scans, close) and ``reads``
(the counts, the summary, the results page's lists, a point's history, who may see them).
Every function takes (session, actor, now) or a session, flushes and never commits.
"""

from .reads import (
    Access,
    Line,
    access_of,
    check_view,
    counts,
    get_stocktake,
    history,
    open_stocktakes,
    result_lines,
    summary,
)
from .recording import close_stocktake, open_stocktake, record_scans

__all__ = ["Access", "Line", "access_of", "check_view", "close_stocktake", "counts",
           "get_stocktake", "history", "open_stocktake", "open_stocktakes", "record_scans", "result_lines",
           "summary"]
