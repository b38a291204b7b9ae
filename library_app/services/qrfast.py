"""QR matrices for label sheets, fast enough for hundreds of labels per page.

``qrcode`` spends most of its time choosing the mask: it draws the whole symbol eight times and
scores each in pure Python (about 5 ms a code, so a 240-label sheet took over a second). Here the
data modules are placed once, each mask is one XOR per row of integers, and the ISO 18004 penalty
rules are scored on bit rows and strings. The symbol itself is still drawn by ``qrcode`` with the
chosen mask, so the output is ``qrcode``'s own; only the choice of mask is computed here (any
mask gives a valid code, the score only picks the easiest to read).
"""

from __future__ import annotations

import re
from functools import lru_cache

import qrcode
from qrcode import main as qr_main
from qrcode import util
from qrcode.constants import ERROR_CORRECT_M

_RUNS = re.compile(r"0{5,}|1{5,}")


@lru_cache(maxsize=64)
def _layout(version: int) -> tuple[int, tuple[int, ...], tuple[tuple[int, int], ...]]:
    """(size, rows of fixed dark modules as ints, data module positions in placement order)."""
    tmp = qrcode.QRCode(version=version, error_correction=ERROR_CORRECT_M)
    tmp.add_data("0")
    tmp.makeImpl(True, 0)  # fills qrcode's cache of blank symbols for this version
    n = tmp.modules_count
    tmp.modules = [list(row) for row in qr_main.precomputed_qr_blanks[version]]
    tmp.setup_type_info(True, 0)
    if version >= 7:
        tmp.setup_type_number(True)
    modules = tmp.modules
    fixed = tuple(
        sum(1 << (n - 1 - c) for c in range(n) if modules[r][c]) for r in range(n)
    )
    positions: list[tuple[int, int]] = []
    row, inc = n - 1, -1
    for col in range(n - 1, 0, -2):  # the same zigzag as qrcode's map_data
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if modules[row][c] is None:
                    positions.append((row, c))
            row += inc
            if row < 0 or row >= n:
                row -= inc
                inc = -inc
                break
    return n, fixed, tuple(positions)


@lru_cache(maxsize=512)
def _mask_rows(version: int, pattern: int) -> tuple[int, ...]:
    n, _, positions = _layout(version)
    func = util.mask_func(pattern)
    rows = [0] * n
    for r, c in positions:
        if func(r, c):
            rows[r] |= 1 << (n - 1 - c)
    return tuple(rows)


def _penalty(rows: list[int], n: int) -> int:
    lines = [format(r, f"0{n}b") for r in rows]
    # Rows and columns in one string, "|" between lines so no run or pattern crosses them
    text = "|".join(lines) + "|" + "|".join(map("".join, zip(*lines, strict=True)))
    score = sum(len(m) - 2 for m in _RUNS.findall(text))
    score += 40 * (text.count("10111010000") + text.count("00001011101"))
    inner = (1 << (n - 1)) - 1
    for a, b in zip(rows, rows[1:], strict=False):
        blocks = ~(a ^ b) & ~(a ^ (a >> 1)) & ~(b ^ (b >> 1)) & inner
        score += 3 * bin(blocks).count("1")
    dark = sum(bin(r).count("1") for r in rows)
    score += 10 * int(abs(dark * 100 / (n * n) - 50) / 5)
    return score


class _FastMaskQR(qrcode.QRCode):  # type: ignore[type-arg]
    def best_mask_pattern(self) -> int:
        version = self.version
        n, fixed, positions = _layout(version)
        self.data_cache = util.create_data(version, self.error_correction, self.data_list)
        data_rows = [0] * n
        bits_total = len(self.data_cache) * 8
        for i, (r, c) in enumerate(positions):
            if i < bits_total and (self.data_cache[i >> 3] >> (7 - (i & 7))) & 1:
                data_rows[r] |= 1 << (n - 1 - c)
        best, best_score = 0, -1
        for pattern in range(8):
            masks = _mask_rows(version, pattern)
            rows = [f | (d ^ m) for f, d, m in zip(fixed, data_rows, masks, strict=True)]
            score = _penalty(rows, n)
            if best_score < 0 or score < best_score:
                best, best_score = pattern, score
        return best


def matrix(content: str, border: int = 2) -> list[list[bool]]:
    """The QR symbol for ``content`` (error correction M) with a quiet zone of ``border`` modules."""
    qr = _FastMaskQR(error_correction=ERROR_CORRECT_M, border=border)
    qr.add_data(content)
    qr.make(fit=True)
    return [[bool(v) for v in row] for row in qr.get_matrix()]
