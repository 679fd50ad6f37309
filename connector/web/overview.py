"""The overview over every administration: one row each, with the totals, sortable, filterable and paged.

Built from the figures the health endpoint gathers without invoice detail (parking, syncs, approvals), the
actions per status, and each administration's receivables of the day as kept after its last sync (`daily_figures`):
no page adds up every invoice of every administration. Sorting, filtering and paging 1,000 rows is done here, in
memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from connector.health.status import AdministrationFigures
from connector.store.models import DailyFigure
from connector.store.overview import ATTENTION_STATES

DSO_DAYS = 90
PAGE_SIZE = 50
COLUMNS = ("name", "platform", "open", "overdue", "dso", "due", "attention", "state")


@dataclass(frozen=True)
class Row:
    name: str
    platform: str
    currency: str
    open_amount: Decimal
    overdue_amount: Decimal
    open_invoices: int
    overdue_invoices: int
    dso: Decimal | None  # days; None when nothing was invoiced in the window
    actions_due: int  # planned and not yet gone, or waiting for a person's approval
    attention: int
    state: str  # ready | awaiting_approval | not_ready | parked
    reason: str | None

    def key(self, column: str) -> object:
        return {
            "name": self.name.lower(),
            "platform": self.platform,
            "open": self.open_amount,
            "overdue": self.overdue_amount,
            "dso": self.dso if self.dso is not None else Decimal(-1),
            "due": self.actions_due,
            "attention": self.attention,
            "state": self.state,
        }[column]


def rows(
    figures: Sequence[AdministrationFigures],
    days: Mapping[int, Sequence[DailyFigure]],
    reasons: Mapping[str, str | None],
) -> list[Row]:
    """A row per administration from its figures (readiness, actions) and its receivables of the day."""
    found = []
    for item in figures:
        kept = {row.currency: row for row in days.get(item.administration_id or 0, [])}
        currency = max(kept, key=lambda c: kept[c].open_amount) if kept else "EUR"
        day = kept.get(currency)
        open_amount = day.open_amount if day else Decimal(0)
        dso = days_sales_outstanding(open_amount, day.invoiced_90_days) if day else None
        attention = sum(count for (_, status), count in item.actions.items() if status in ATTENTION_STATES)
        attention += item.quarantined + len(item.failing_channels)
        attention += (item.parked_at is not None) + (not item.approved) + (item.config.sender_missing() is not None)
        due = sum(count for (_, status), count in item.actions.items() if status in ("pending", "awaiting_approval"))
        reason = reasons.get(item.name)
        if item.parked_at is not None:
            state = "parked"
        elif not item.approved:
            state = "awaiting_approval"
        else:
            state = "ready" if reason is None else "not_ready"
        found.append(
            Row(
                name=item.name,
                platform=item.config.platform,
                currency=currency,
                open_amount=open_amount,
                overdue_amount=day.overdue_amount if day else Decimal(0),
                open_invoices=sum(row.open_invoices for row in kept.values()),
                overdue_invoices=sum(row.overdue_invoices for row in kept.values()),
                dso=dso,
                actions_due=due,
                attention=attention,
                state=state,
                reason=reason,
            )
        )
    return found


@dataclass(frozen=True)
class View:
    """What the overview shows of the rows: filtered, sorted, one page of them, and totals over all filtered."""

    rows: list[Row]
    matching: int
    total: int
    page: int
    pages: int
    totals: dict[str, Decimal | int]
    sort: str
    descending: bool


def view(
    every: list[Row],
    *,
    query: str = "",
    platform: str = "",
    attention_only: bool = False,
    sort: str = "attention",
    descending: bool = True,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> View:
    chosen = [
        row
        for row in every
        if (not query or query.lower() in row.name.lower())
        and (not platform or row.platform == platform)
        and (not attention_only or row.attention > 0)
    ]
    sort = sort if sort in COLUMNS else "attention"
    chosen.sort(key=lambda row: row.name.lower())  # ties in name order, whichever way the column goes
    chosen.sort(key=lambda row: row.key(sort), reverse=descending)  # type: ignore[arg-type, return-value]
    pages = max(1, -(-len(chosen) // page_size))
    page = min(max(page, 1), pages)
    totals: dict[str, Decimal | int] = {
        "open": sum((r.open_amount for r in chosen if r.currency == "EUR"), Decimal(0)),
        "overdue": sum((r.overdue_amount for r in chosen if r.currency == "EUR"), Decimal(0)),
        "open_invoices": sum(r.open_invoices for r in chosen),
        "due": sum(r.actions_due for r in chosen),
        "attention": sum(r.attention for r in chosen),
    }
    return View(
        rows=chosen[(page - 1) * page_size : page * page_size],
        matching=len(chosen),
        total=len(every),
        page=page,
        pages=pages,
        totals=totals,
        sort=sort,
        descending=descending,
    )


def days_sales_outstanding(open_amount: Decimal, invoiced: Decimal) -> Decimal | None:
    """Open receivables over what was invoiced in the last DSO_DAYS, times DSO_DAYS, in whole days; None when
    nothing was invoiced in that window."""
    return (open_amount / invoiced * DSO_DAYS).quantize(Decimal(1)) if invoiced > 0 else None


def dso_window(today: date) -> date:
    return today - timedelta(days=DSO_DAYS)
