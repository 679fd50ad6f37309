"""Summaries of the mirror for people: ageing buckets. Pure functions over open invoices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

BUCKETS = ("not yet due", "1-30 days", "31-60 days", "61-90 days", "90+ days")
BUCKET_DAYS = (0, 30, 60, 90)  # the most days past due of each bucket but the last


@dataclass
class Bucket:
    label: str
    count: int = 0
    amount: Decimal = Decimal(0)


class OpenItem(Protocol):
    @property
    def due_date(self) -> date: ...
    @property
    def open_amount(self) -> Decimal: ...


def bucket_floors(today: date) -> tuple[date, ...]:
    """The earliest due date of each bucket but the last: a due date falls in the first bucket whose floor it
    reaches, else in the last. As dates, so a database can bucket invoices by comparing due dates."""
    return tuple(today - timedelta(days=days) for days in BUCKET_DAYS)


def bucket_index(due_date: date, floors: Sequence[date]) -> int:
    return next((index for index, floor in enumerate(floors) if due_date >= floor), len(floors))


def ageing(invoices: Iterable[OpenItem], today: date) -> list[Bucket]:
    """Open invoices by days past their due date (open amounts; one currency assumed per bucket)."""
    buckets = [Bucket(label) for label in BUCKETS]
    floors = bucket_floors(today)
    for invoice in invoices:
        bucket = buckets[bucket_index(invoice.due_date, floors)]
        bucket.count += 1
        bucket.amount += invoice.open_amount
    return buckets
