"""Charts as plain SVG made on the server: no script, readable by a screen reader through their title and the
table beside them. Geometry only; the templates draw it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 640
HEIGHT = 220
MARGIN = 36  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Line:
    points: str  # "x,y x,y ..." for a <polyline>
    dots: list[tuple[float, float, str, Decimal]]  # x, y, label, value
    top: Decimal  # the value at the top of the plot


def bars(values: Sequence[tuple[str, Decimal]]) -> list[Bar]:
    """Vertical bars, side by side, scaled to the largest."""
    if not values:
        return []
    top = max((value for _, value in values), default=Decimal(0)) or Decimal(1)
    slot = (WIDTH - MARGIN) / len(values)
    plot = HEIGHT - 2 * MARGIN
    found = []
    for index, (label, value) in enumerate(values):
        height = float(value / top) * plot if value > 0 else 0.0
        found.append(
            Bar(label, value, MARGIN + index * slot + slot * 0.15, HEIGHT - MARGIN - height, slot * 0.7, height)
        )
    return found


def line(values: Sequence[tuple[str, Decimal]]) -> Line:
    """A line through the values in order, scaled from zero to the largest."""
    if not values:
        return Line("", [], Decimal(0))
    top = max(value for _, value in values) or Decimal(1)
    step = (WIDTH - 2 * MARGIN) / max(len(values) - 1, 1)
    plot = HEIGHT - 2 * MARGIN
    dots = [
        (MARGIN + index * step, HEIGHT - MARGIN - float(value / top) * plot, label, value)
        for index, (label, value) in enumerate(values)
    ]
    return Line(" ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in dots), dots, top)
