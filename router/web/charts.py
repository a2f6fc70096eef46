"""Charts drawn on the server as SVG: bars (side by side or stacked) and a week's heat map. No script.

A chart is an image with a title and a description (role="img", aria-labelledby), so a screen reader
says what it shows; the page puts the same numbers beside it as a table. Every bar and cell also has
a <title> (its number, on hover). Coordinates are in a fixed viewBox; the SVG scales to its column.
A chart library would bring a browser script or a rendering toolchain for what is a few rectangles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 800, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 36, 44  # room for the axis' numbers, the legend and the labels
INK, GRID = "#1a1a1a", "#c8c8c8"
MOST_LABELS = 16  # x labels at most; beyond, every n-th


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no value (drawn as none, not as 0)
    colour: str  # at least 3:1 against white (WCAG 1.4.11)


def bars(
    chart_id: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series], *, stacked: bool
) -> Markup:
    """Bars per label: one per series side by side, or the series stacked on each other."""
    sums = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    tallest = max(sums if stacked else [v or 0 for s in series for v in s.values], default=0)
    step, top = _ticks(tallest)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar_w = slot * 0.8 / (1 if stacked else max(1, len(series)))
    parts = [_axis(step, top, plot_h)]
    every = max(1, math.ceil(len(labels) / MOST_LABELS))
    for i, label in enumerate(labels):
        x0, base = LEFT + slot * i + slot * 0.1, 0.0
        for n, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            h = plot_h * value / top
            x = x0 if stacked else x0 + bar_w * n
            y = TOP + plot_h - base - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" fill="{s.colour}">'
                f"<title>{escape(label)}: {escape(s.name)} {_number(value)}</title></rect>"
            )
            if stacked:
                base += h
        if i % every == 0:
            cx = LEFT + slot * (i + 0.5)
            parts.append(_text(cx, HEIGHT - BOTTOM + 18, label, anchor="middle"))
    parts.append(_legend(series))
    return _svg(chart_id, title, description, parts)


def heatmap(
    chart_id: str, title: str, description: str, rows: Sequence[str], columns: Sequence[str], values: list[list[int]]
) -> Markup:
    """A grid of cells, each the darker the larger its value (the largest full colour, 0 white)."""
    most = max((v for row in values for v in row), default=0) or 1
    left = 90
    cell_w, cell_h = (WIDTH - left - RIGHT) / max(1, len(columns)), (HEIGHT - TOP - BOTTOM) / max(1, len(rows))
    parts = []
    for r, row_name in enumerate(rows):
        y = TOP + cell_h * r
        parts.append(_text(left - 8, y + cell_h / 2 + 5, row_name, anchor="end"))
        for c, column in enumerate(columns):
            value = values[r][c]
            parts.append(
                f'<rect x="{left + cell_w * c:.1f}" y="{y:.1f}" width="{cell_w - 1:.1f}" height="{cell_h - 1:.1f}"'
                f' fill="#0b4f8a" fill-opacity="{value / most:.3f}" stroke="{GRID}">'
                f"<title>{escape(row_name)} {escape(column)}: {value}</title></rect>"
            )
    for c, column in enumerate(columns):
        if c % 3 == 0:
            parts.append(_text(left + cell_w * (c + 0.5), HEIGHT - BOTTOM + 18, column, anchor="middle"))
    parts.append(_text(left, 22, f"Lysest: 0 opkald. Mørkest: {most} opkald.", anchor="start"))
    return _svg(chart_id, title, description, parts)


def _svg(chart_id: str, title: str, description: str, parts: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img"'
        f' aria-labelledby="{chart_id}-titel {chart_id}-beskrivelse" font-family="system-ui, sans-serif"'
        f' font-size="14" class="chart">'
        f'<title id="{chart_id}-titel">{escape(title)}</title>'
        f'<desc id="{chart_id}-beskrivelse">{escape(description)}</desc>'
    )
    return Markup(head + "".join(parts) + "</svg>")  # every text in it is escaped above


def _axis(step: float, top: float, plot_h: float) -> str:
    lines = []
    value = 0.0
    while value <= top + 1e-9:
        y = TOP + plot_h - plot_h * value / top
        lines.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        lines.append(_text(LEFT - 6, y + 5, _number(value), anchor="end"))
        value += step
    return "".join(lines)


def _legend(series: Sequence[Series]) -> str:
    parts, x = [], float(LEFT)
    for s in series:
        parts.append(f'<rect x="{x:.1f}" y="8" width="14" height="14" fill="{s.colour}"/>')
        parts.append(_text(x + 20, 20, s.name, anchor="start"))
        x += 34 + 8 * len(s.name)
    return "".join(parts)


def _text(x: float, y: float, text: str, *, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{INK}">{escape(text)}</text>'


def _ticks(tallest: float) -> tuple[float, float]:
    """A step of 1, 2 or 5 times a power of ten giving about four lines, and the axis' top (a step's
    multiple at or above the tallest bar; 1 for an empty chart)."""
    if tallest <= 0:
        return 1.0, 1.0
    raw = tallest / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if step < 1 and tallest >= 1:
        step = 1.0
    return step, step * math.ceil(tallest / step)


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")
