"""Stocktake pages (盘点): a point's stocktakes, the scan page for phones, the results."""
