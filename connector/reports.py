"""Summaries of the mirror for people: ageing buckets. Pure functions over open invoices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

BUCKETS = ("not yet due", "1-30 days", "31-60 days", "61-90 days", "90+ days")


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


def ageing(invoices: Iterable[OpenItem], today: date) -> list[Bucket]:
    """Open invoices by days past their due date (open amounts; one currency assumed per bucket)."""
    buckets = [Bucket(label) for label in BUCKETS]
    for invoice in invoices:
        overdue = (today - invoice.due_date).days
        index = 0 if overdue <= 0 else 1 if overdue <= 30 else 2 if overdue <= 60 else 3 if overdue <= 90 else 4
        buckets[index].count += 1
        buckets[index].amount += invoice.open_amount
    return buckets
