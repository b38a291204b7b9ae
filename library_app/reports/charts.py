"""Server-drawn SVG charts for the report pages.

Why SVG from the server rather than a canvas chart library: the month report must print on A4,
and SVG prints as sharp vectors with the page's own Chinese fonts, needs no JavaScript (nothing
to wait for before printing or saving as PDF, nothing for the CSP to allow), costs no download
on a phone, and its numbers can be checked in tests. Colours come from classes styled in
static/css/reports.css (the CSP forbids inline style attributes).

The charts have no viewBox: horizontal positions are percentages of the width and vertical ones
pixels, so a chart fills a phone or a desktop page while its text stays the same readable size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from library_app.domain.reports import YearProgress


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _pct(value: float) -> str:
    return _n(value) + "%"


def _nice_max(value: float) -> float:
    """A round top for the axis: 1, 2, 2.5 or 5 × 10^k at or above ``value``."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


@dataclass
class Bar:
    label: str
    value: int
    part: int = 0          # drawn in a second shade at the bottom (e.g. paper tallies)
    muted: bool = False    # a month not yet begun
    href: str = ""


def bar_chart(bars: Sequence[Bar], line: Sequence[float] | None = None, *, title: str,
              line_label: str = "", part_label: str = "", height: int = 230,
              left: float = 9.0) -> Markup:
    """Vertical bars with value labels, an optional line (e.g. the month's share of the target)."""
    right = 1.0                             # percent of the width (left too)
    top, bottom = 30, 24                    # pixels
    plot_h = height - top - bottom
    top_value = _nice_max(max([b.value for b in bars] + list(line or []) + [1]))
    slot = (100 - left - right) / max(len(bars), 1)
    bar_w = slot * 0.64

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / top_value

    out = [f'<svg class="chart bars" width="100%" height="{height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>"]
    for i in range(5):
        value = top_value * i / 4
        out.append(f'<line class="grid" x1="{_pct(left)}" x2="{_pct(100 - right)}" '
                   f'y1="{_n(y(value))}" y2="{_n(y(value))}"/>')
        out.append(f'<text class="axis" x="{_pct(left - 1)}" y="{_n(y(value) + 4)}" '
                   f'text-anchor="end">{int(value)}</text>')
    for i, bar in enumerate(bars):
        x = left + slot * i + (slot - bar_w) / 2
        centre = _pct(x + bar_w / 2)
        cls = "bar muted" if bar.muted else "bar"
        if bar.value > 0:
            body = (f'<rect class="{cls}" x="{_pct(x)}" y="{_n(y(bar.value))}" width="{_pct(bar_w)}" '
                    f'height="{_n(y(0) - y(bar.value))}"><title>{escape(bar.label)}：{bar.value}</title></rect>')
            if bar.part:
                body += (f'<rect class="bar part" x="{_pct(x)}" y="{_n(y(bar.part))}" width="{_pct(bar_w)}" '
                         f'height="{_n(y(0) - y(bar.part))}"/>')
            if bar.href:
                body = f'<a href="{escape(bar.href)}">{body}</a>'
            out.append(body)
            out.append(f'<text class="value" x="{centre}" y="{_n(y(bar.value) - 4)}" '
                       f'text-anchor="middle">{bar.value}</text>')
        out.append(f'<text class="axis" x="{centre}" y="{height - 6}" '
                   f'text-anchor="middle">{escape(bar.label)}</text>')
    if line:
        for i, v in enumerate(line):  # one dash per bar, so it reads as "this month's target"
            x1, x2 = left + slot * i + slot * 0.04, left + slot * (i + 1) - slot * 0.04
            out.append(f'<line class="target-line" x1="{_pct(x1)}" x2="{_pct(x2)}" '
                       f'y1="{_n(y(v))}" y2="{_n(y(v))}"/>')
    legend: list[str] = []
    if line_label:
        legend.append(f'<tspan class="legend-line">━ </tspan><tspan>{escape(line_label)}</tspan>')
    if part_label:
        legend.append(f'<tspan class="legend-part">■ </tspan><tspan>{escape(part_label)}</tspan>')
    if legend:
        out.append(f'<text class="legend" x="{_pct(left)}" y="14">' + "<tspan>　</tspan>".join(legend) + "</text>")
    out.append("</svg>")
    return Markup("".join(out))


def hbar_chart(rows: Sequence[tuple[str, int]], *, title: str, css: str = "") -> Markup:
    """Horizontal bars, one per row (label, value), the longest scaled to the full width."""
    label_w, value_w, row_h = 34.0, 12.0, 26   # percent, percent, pixels
    height = max(len(rows), 1) * row_h + 6
    top_value = max([v for _l, v in rows] + [1])
    plot_w = 100 - label_w - value_w
    out = [f'<svg class="chart hbars {escape(css)}" width="100%" height="{height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(rows):
        y = 3 + i * row_h
        w = plot_w * value / top_value
        short = label if len(label) <= 9 else label[:8] + "…"
        out.append(f'<text class="axis" x="{_pct(label_w - 1.5)}" y="{y + 17}" text-anchor="end">'
                   f"<title>{escape(label)}</title>{escape(short)}</text>")
        if value:
            out.append(f'<rect class="bar" x="{_pct(label_w)}" y="{y + 4}" width="{_pct(max(w, 0.5))}" '
                       f'height="{row_h - 9}"/>')
        out.append(f'<text class="value" x="{_pct(label_w + w + 1)}" y="{y + 17}">{value}</text>')
    if not rows:
        out.append(f'<text class="axis" x="{_pct(label_w)}" y="18">本月没有数据</text>')
    out.append("</svg>")
    return Markup("".join(out))


def progress_bar(progress: YearProgress) -> Markup:
    """The year's count against its target, with a marker where an even pace would be today."""
    height, bar_y, bar_h = 62, 22, 20
    done = min(progress.count / progress.target, 1.0) if progress.target else 0.0
    pace = min(max(progress.elapsed, 0.0), 1.0) * 100
    cls = "done ahead" if progress.ahead else "done behind"
    title = f"已完成 {progress.percent}%，按进度今天应达 {progress.expected_to_date}"
    out = [f'<svg class="chart progress" width="100%" height="{height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>",
           f'<rect class="track" x="0" y="{bar_y}" width="100%" height="{bar_h}" rx="6"/>']
    if done > 0:
        out.append(f'<rect class="{cls}" x="0" y="{bar_y}" width="{_pct(max(done * 100, 0.8))}" '
                   f'height="{bar_h}" rx="6"/>')
    if progress.state == "current":
        anchor = "end" if pace > 75 else ("start" if pace < 25 else "middle")
        out.append(f'<line class="pace" x1="{_pct(pace)}" x2="{_pct(pace)}" y1="{bar_y - 5}" '
                   f'y2="{bar_y + bar_h + 5}"/>')
        out.append(f'<text class="legend" x="{_pct(pace)}" y="{bar_y - 8}" text-anchor="{anchor}">'
                   f"今天应达 {progress.expected_to_date:,}</text>")
    out.append(f'<text class="axis" x="0" y="{height - 2}">0</text>')
    out.append(f'<text class="axis" x="100%" y="{height - 2}" text-anchor="end">目标 {progress.target:,}</text>')
    out.append("</svg>")
    return Markup("".join(out))
