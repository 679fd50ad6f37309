"""Summaries of the mirror for people: ageing buckets. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable
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


class BucketTotal(Protocol):
    """Open invoices already counted and summed per bucket (in the database: connector/store/overview.py)."""

    @property
    def bucket(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def amount(self) -> Decimal: ...


def bucket_floors(today: date) -> tuple[date, ...]:
    """The earliest due date of each bucket but the last: a due date falls in the first bucket whose floor it
    reaches, else in the last. As dates, so a database can bucket invoices by comparing due dates."""
    return tuple(today - timedelta(days=days) for days in BUCKET_DAYS)


def ageing(totals: Iterable[BucketTotal]) -> list[Bucket]:
    """Open invoices by days past their due date (open amounts; one currency assumed per bucket)."""
    buckets = [Bucket(label) for label in BUCKETS]
    for total in totals:
        buckets[total.bucket].count += total.count
        buckets[total.bucket].amount += total.amount
    return buckets
