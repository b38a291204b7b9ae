"""Server-drawn SVG charts for the report pages.

Why SVG from the server rather than a canvas chart library: the month report must print on A4,
and SVG prints as sharp vectors with the page's own Chinese fonts, needs no JavaScript (nothing
to wait for before printing or saving as PDF, nothing for the CSP to allow), costs no download
on a phone, and its numbers can be checked in tests. Colours come from classes styled in
static/css/reports.css (the CSP forbids inline style attributes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from library_app.domain.reports import YearProgress


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


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
              line_label: str = "", part_label: str = "", height: int = 240) -> Markup:
    """Vertical bars with value labels, an optional line (e.g. the month's share of the target)."""
    width, left, right, top, bottom = 720, 46, 10, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max([b.value for b in bars] + list(line or []) + [1]))
    slot = plot_w / max(len(bars), 1)
    bar_w = slot * 0.62

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / top_value

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>"]
    for i in range(5):
        value = top_value * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_n(y(value))}" y2="{_n(y(value))}"/>')
        out.append(f'<text class="axis" x="{left - 6}" y="{_n(y(value) + 4)}" text-anchor="end">{int(value)}</text>')
    for i, bar in enumerate(bars):
        x = left + slot * i + (slot - bar_w) / 2
        cls = "bar muted" if bar.muted else "bar"
        if bar.value > 0:
            body = (f'<rect class="{cls}" x="{_n(x)}" y="{_n(y(bar.value))}" width="{_n(bar_w)}" '
                    f'height="{_n(y(0) - y(bar.value))}"><title>{escape(bar.label)}：{bar.value}</title></rect>')
            if bar.part:
                body += (f'<rect class="bar part" x="{_n(x)}" y="{_n(y(bar.part))}" width="{_n(bar_w)}" '
                         f'height="{_n(y(0) - y(bar.part))}"/>')
            if bar.href:
                body = f'<a href="{escape(bar.href)}">{body}</a>'
            out.append(body)
            out.append(f'<text class="value" x="{_n(x + bar_w / 2)}" y="{_n(y(bar.value) - 4)}" '
                       f'text-anchor="middle">{bar.value}</text>')
        out.append(f'<text class="axis" x="{_n(x + bar_w / 2)}" y="{height - bottom + 16}" '
                   f'text-anchor="middle">{escape(bar.label)}</text>')
    if line:
        points = " ".join(
            f"{_n(left + slot * i + slot * f)},{_n(y(v))}"
            for i, v in enumerate(line) for f in (0.08, 0.92)
        )
        out.append(f'<polyline class="target-line" points="{points}"/>')
    legend_x = left
    if line_label:
        out.append(f'<line class="target-line" x1="{legend_x}" x2="{legend_x + 22}" y1="12" y2="12"/>'
                   f'<text class="legend" x="{legend_x + 28}" y="16">{escape(line_label)}</text>')
        legend_x += 40 + 14 * len(line_label)
    if part_label:
        out.append(f'<rect class="bar part" x="{legend_x}" y="5" width="14" height="14"/>'
                   f'<text class="legend" x="{legend_x + 20}" y="16">{escape(part_label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def hbar_chart(rows: Sequence[tuple[str, int]], *, title: str, css: str = "") -> Markup:
    """Horizontal bars, one per row (label, value), longest scaled to the full width."""
    width, label_w, right, row_h = 720, 150, 56, 26
    height = max(len(rows), 1) * row_h + 6
    top_value = max([v for _l, v in rows] + [1])
    plot_w = width - label_w - right
    out = [f'<svg class="chart hbars {escape(css)}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(rows):
        y = 3 + i * row_h
        w = plot_w * value / top_value
        short = label if len(label) <= 10 else label[:9] + "…"
        out.append(f'<text class="axis" x="{label_w - 8}" y="{y + 17}" text-anchor="end">'
                   f"<title>{escape(label)}</title>{escape(short)}</text>")
        if value:
            out.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{_n(max(w, 2))}" height="{row_h - 8}"/>')
        out.append(f'<text class="value" x="{_n(label_w + w + 6)}" y="{y + 17}">{value}</text>')
    if not rows:
        out.append(f'<text class="axis" x="{label_w}" y="18">本月没有数据</text>')
    out.append("</svg>")
    return Markup("".join(out))


def progress_bar(progress: YearProgress) -> Markup:
    """The year's count against its target, with a marker where an even pace would be today."""
    width, height, bar_y, bar_h = 720, 64, 22, 22
    done = min(progress.count / progress.target, 1.0) if progress.target else 0.0
    pace = min(max(progress.elapsed, 0.0), 1.0)
    cls = "done ahead" if progress.ahead else "done behind"
    title = f"已完成 {progress.percent}%，按进度今天应达 {progress.expected_to_date}"
    out = [f'<svg class="chart progress" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>",
           f'<rect class="track" x="0" y="{bar_y}" width="{width}" height="{bar_h}" rx="6"/>']
    if done > 0:
        out.append(f'<rect class="{cls}" x="0" y="{bar_y}" width="{_n(max(width * done, 4))}" height="{bar_h}" rx="6"/>')
    if progress.state == "current":
        x = width * pace
        anchor = "end" if pace > 0.8 else ("start" if pace < 0.2 else "middle")
        out.append(f'<line class="pace" x1="{_n(x)}" x2="{_n(x)}" y1="{bar_y - 6}" y2="{bar_y + bar_h + 6}"/>')
        out.append(f'<text class="legend" x="{_n(x)}" y="{bar_y - 9}" text-anchor="{anchor}">'
                   f"今天应达 {progress.expected_to_date}</text>")
    out.append(f'<text class="axis" x="0" y="{height - 2}">0</text>')
    out.append(f'<text class="axis" x="{width}" y="{height - 2}" text-anchor="end">目标 {progress.target}</text>')
    out.append("</svg>")
    return Markup("".join(out))
