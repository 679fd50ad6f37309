"""What the daemon, the health endpoint and the status page read and keep about administrations as a whole:
parking, the latest sync runs, outbox depth, figures for metrics. Aggregates, so one scrape is a few queries
however many administrations there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select

from connector.domain import InvoiceStatus
from connector.store.models import (
    Action,
    Administration,
    AuditEntry,
    DailyFigure,
    Invoice,
    QuarantinedRecord,
    SyncRun,
)
from connector.store.outbox import OPEN_STATES
from connector.store.repository import Store

ATTENTION_STATES = ("review", "failed", "awaiting_approval", "undelivered")  # undelivered: a bounce, a returned letter


@dataclass(frozen=True)
class AdministrationRecord:
    id: int
    name: str
    platform: str
    parked_at: datetime | None
    parked_reason: str | None
    parked_credential: str | None

    @property
    def parked(self) -> bool:
        return self.parked_at is not None


@dataclass(frozen=True)
class LastSync:
    """The latest run (any outcome), the latest finished one, and when the latest successful one finished."""

    run: SyncRun | None
    last_success_at: datetime | None
    finished: SyncRun | None = None


@dataclass(frozen=True)
class OpenInvoiceTotal:
    """The open invoices of one administration in one currency and one ageing bucket."""

    currency: str
    bucket: int
    count: int
    amount: Decimal


class OverviewStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def ping(self) -> None:
        """Raises when the store cannot be reached."""
        with self.store.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    # --- administrations and parking ------------------------------------------------------------------

    def administrations(self) -> dict[str, AdministrationRecord]:
        with self.store.session() as session:
            return {row.name: _record(row) for row in session.exec(select(Administration))}

    def administration(self, name: str) -> AdministrationRecord | None:
        with self.store.session() as session:
            row = session.exec(select(Administration).where(Administration.name == name)).first()
            return _record(row) if row is not None else None

    def park(self, administration_id: int, reason: str, credential: str) -> None:
        with self.store.session() as session, session.begin():
            row = session.get(Administration, administration_id)
            if row is not None:
                row.parked_at, row.parked_reason, row.parked_credential = self.store.clock.now(), reason, credential
                session.add(row)

    def unpark(self, name: str, *, by: str) -> bool:
        """Lift the parking (`by`: who, for the audit log); False when the administration was not parked."""
        with self.store.session() as session, session.begin():
            row = session.exec(select(Administration).where(Administration.name == name)).first()
            if row is None or row.parked_at is None:
                return False
            reason = row.parked_reason
            row.parked_at = row.parked_reason = row.parked_credential = None
            session.add(row)
            assert row.id is not None
            session.add(
                AuditEntry(
                    administration_id=row.id,
                    at=self.store.clock.now(),
                    event="unparked",
                    detail={"by": by, "parked_because": reason},
                )
            )
            return True

    # --- sync runs --------------------------------------------------------------------------------------

    def last_syncs(self) -> dict[int, LastSync]:
        latest_ids = select(func.max(SyncRun.id)).group_by(col(SyncRun.administration_id))
        finished_ids = (
            select(func.max(SyncRun.id))
            .where(col(SyncRun.finished_at).is_not(None))
            .group_by(col(SyncRun.administration_id))
        )
        successes = (
            select(SyncRun.administration_id, func.max(SyncRun.finished_at))
            .where(SyncRun.outcome == "success")
            .group_by(col(SyncRun.administration_id))
        )
        with self.store.session() as session:
            runs = {
                run.administration_id: run
                for run in session.exec(select(SyncRun).where(col(SyncRun.id).in_(latest_ids)))
            }
            finished = {
                run.administration_id: run
                for run in session.exec(select(SyncRun).where(col(SyncRun.id).in_(finished_ids)))
            }
            success_at = {admin_id: at for admin_id, at in session.exec(successes)}
        return {
            admin_id: LastSync(runs.get(admin_id), success_at.get(admin_id), finished.get(admin_id))
            for admin_id in {*runs, *success_at}
        }

    def prune_sync_runs(self, older_than: datetime) -> int:
        """Delete finished runs that started before `older_than`, keeping each administration's latest success
        (readiness and the status page read it)."""
        keep = select(func.max(SyncRun.id)).where(SyncRun.outcome == "success").group_by(col(SyncRun.administration_id))
        with self.store.session() as session, session.begin():
            result = session.execute(
                sa.delete(SyncRun).where(
                    col(SyncRun.started_at) < older_than,
                    col(SyncRun.finished_at).is_not(None),
                    col(SyncRun.id).not_in(keep),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # --- figures ----------------------------------------------------------------------------------------

    def open_invoice_totals(
        self, floors: Sequence[date], administration_id: int | None = None
    ) -> dict[int, list[OpenInvoiceTotal]]:
        """Open invoices counted and summed per administration, currency and ageing bucket, in the database:
        bucket i (of len(floors) + 1) holds the due dates on or after floors[i] that no earlier bucket holds.
        The amounts are exactly what adding up the invoices' open amounts as read gives, trailing zeros too."""
        due = col(Invoice.due_date)
        bucket = sa.case(*((due >= floor, index) for index, floor in enumerate(floors)), else_=len(floors))
        rows = (
            sa.select(
                col(Invoice.administration_id), col(Invoice.currency), bucket.label("bucket"), col(Invoice.open_amount)
            )
            .where(col(Invoice.status) == InvoiceStatus.OPEN, *_only(Invoice, administration_id))
            .subquery()  # grouped outside: PostgreSQL would not match the CASE's parameters in a GROUP BY
        )
        groups = (rows.c.administration_id, rows.c.currency, rows.c.bucket)
        found: dict[int, list[OpenInvoiceTotal]] = defaultdict(list)
        with self.store.session() as session:
            total = _exact_sum(rows.c.open_amount, self.store.engine.dialect.name)
            for admin_id, currency, index, count, amount in session.execute(
                sa.select(*groups, func.count(), total).group_by(*groups)
            ):
                found[admin_id].append(OpenInvoiceTotal(currency, index, count, Decimal(amount)))
        return found

    def invoiced_since(self, day: date, administration_id: int | None = None) -> dict[int, dict[str, Decimal]]:
        """What was invoiced from `day` on, per administration and currency: every mirrored invoice dated then or
        later, paid or not (the denominator of the DSO)."""
        rows = (
            sa.select(col(Invoice.administration_id), col(Invoice.currency), col(Invoice.total))
            .where(col(Invoice.invoice_date) >= day, *_only(Invoice, administration_id))
            .subquery()
        )
        groups = (rows.c.administration_id, rows.c.currency)
        found: dict[int, dict[str, Decimal]] = defaultdict(dict)
        with self.store.session() as session:
            total = _exact_sum(rows.c.total, self.store.engine.dialect.name)
            for admin_id, currency, amount in session.execute(sa.select(*groups, total).group_by(*groups)):
                found[admin_id][currency] = Decimal(amount)
        return found

    def day_figures(
        self, day: date, administration_id: int | None = None, dso_days: int = 90
    ) -> dict[int, list[DailyFigure]]:
        """Each administration's receivables as they stand now, as `day`'s figures (not stored): per currency, open
        and overdue amounts and counts, and what was invoiced over the `dso_days` up to `day`."""
        totals = self.open_invoice_totals((day,), administration_id)  # bucket 0: not yet due; 1: overdue
        invoiced = self.invoiced_since(day - timedelta(days=dso_days), administration_id)
        now = self.store.clock.now()
        found: dict[int, list[DailyFigure]] = {}
        for admin_id in set(totals) | set(invoiced):
            figures: dict[str, DailyFigure] = {}
            for total in totals.get(admin_id, []):
                row = figures.setdefault(total.currency, _empty_day(admin_id, day, total.currency, now))
                row.open_amount += total.amount
                row.open_invoices += total.count
                if total.bucket == 1:
                    row.overdue_amount += total.amount
                    row.overdue_invoices += total.count
            for currency, amount in invoiced.get(admin_id, {}).items():
                figures.setdefault(currency, _empty_day(admin_id, day, currency, now)).invoiced_90_days = amount
            found[admin_id] = list(figures.values())
        return found

    def record_day(self, day: date, administration_id: int | None = None) -> int:
        """Keep `day`'s figures (of one administration, or all): written after each sync and by housekeeping, so
        the last write of a business day is what it closed with, and the overview reads them instead of adding up
        every invoice of every administration. Returns the rows written."""
        figures = self.day_figures(day, administration_id)
        with self.store.session() as session:
            if administration_id is not None:  # a currency no longer open that day is gone from it
                session.execute(
                    sa.delete(DailyFigure).where(
                        col(DailyFigure.administration_id) == administration_id, col(DailyFigure.day) == day
                    )
                )
            for rows in figures.values():
                for row in rows:
                    session.merge(row)
            session.commit()
        return sum(len(rows) for rows in figures.values())

    def figures_of_day(self, day: date) -> dict[int, list[DailyFigure]]:
        """The kept figures of `day`, per administration."""
        found: dict[int, list[DailyFigure]] = defaultdict(list)
        with self.store.session() as session:
            for row in session.exec(select(DailyFigure).where(DailyFigure.day == day)):
                found[row.administration_id].append(row)
        return found

    def days(self, administration_id: int, since: date) -> list[DailyFigure]:
        """The recorded days of an administration from `since` on, oldest first."""
        query = (
            select(DailyFigure)
            .where(DailyFigure.administration_id == administration_id, col(DailyFigure.day) >= since)
            .order_by(col(DailyFigure.day), col(DailyFigure.currency))
        )
        with self.store.session() as session:
            return list(session.exec(query))

    def invoice_counts(self, administration_id: int | None = None) -> dict[int, int]:
        """Every mirrored invoice, open or closed."""
        query = (
            select(Invoice.administration_id, func.count())
            .where(*_only(Invoice, administration_id))
            .group_by(col(Invoice.administration_id))
        )
        with self.store.session() as session:
            return {admin_id: count for admin_id, count in session.exec(query)}

    def action_counts(self, administration_id: int | None = None) -> dict[int, dict[tuple[str, str], int]]:
        """(stage, status) -> count, per administration."""
        query = (
            select(Action.administration_id, Action.stage, Action.status, func.count())
            .where(*_only(Action, administration_id))
            .group_by(col(Action.administration_id), col(Action.stage), col(Action.status))
        )
        found: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
        with self.store.session() as session:
            for admin_id, stage, status, count in session.exec(query):
                found[admin_id][(stage, status)] = count
        return found

    def oldest_unfinished_actions(self, administration_id: int | None = None) -> dict[int, datetime]:
        """When the oldest action still in the outbox (not done, dropped, failed or in review) was planned."""
        query = (
            select(Action.administration_id, func.min(Action.created_at))
            .where(col(Action.status).in_(OPEN_STATES), *_only(Action, administration_id))
            .group_by(col(Action.administration_id))
        )
        with self.store.session() as session:
            return {admin_id: at for admin_id, at in session.exec(query) if at is not None}

    def needing_attention(self, administration_id: int) -> list[Action]:
        query = (
            select(Action)
            .where(Action.administration_id == administration_id, col(Action.status).in_(ATTENTION_STATES))
            .order_by(col(Action.updated_at))
        )
        with self.store.session() as session:
            return list(session.exec(query))

    def quarantine_counts(self, administration_id: int | None = None) -> dict[int, int]:
        query = (
            select(QuarantinedRecord.administration_id, func.count())
            .where(col(QuarantinedRecord.resolved_at).is_(None), *_only(QuarantinedRecord, administration_id))
            .group_by(col(QuarantinedRecord.administration_id))
        )
        with self.store.session() as session:
            return {admin_id: count for admin_id, count in session.exec(query)}


def _only(table: Any, administration_id: int | None) -> list[sa.ColumnElement[bool]]:
    """The condition that keeps one administration's rows, or none for all of them."""
    return [] if administration_id is None else [col(table.administration_id) == administration_id]


def _exact_sum(amount: sa.ColumnElement[Decimal], dialect: str) -> sa.ColumnElement[str]:
    """SUM of an Amount column as exact decimal text, in the form Decimal(0) plus every amount as read would take
    (stored_amount: trailing zeros dropped per amount, so 10.5 + 0.5 is 11.0 and 10 + 1 is 11)."""
    if dialect == "postgresql":
        # NUMERIC sums exactly, at the column's scale; round to the largest scale an amount needs (PostgreSQL 13+).
        return sa.cast(sa.func.round(sa.func.sum(amount), sa.func.max(sa.func.min_scale(amount))), sa.Text)
    return sa.func.connector_decimal_sum(amount, type_=sa.Text)  # SQLite: connector.store.types.DecimalSum


def _record(row: Administration) -> AdministrationRecord:
    return AdministrationRecord(
        id=row.id or 0,
        name=row.name,
        platform=row.platform,
        parked_at=row.parked_at,
        parked_reason=row.parked_reason,
        parked_credential=row.parked_credential,
    )


def _empty_day(administration_id: int, day: date, currency: str, now: datetime) -> DailyFigure:
    zero = Decimal(0)
    return DailyFigure(
        administration_id=administration_id,
        day=day,
        currency=currency,
        open_amount=zero,
        overdue_amount=zero,
        invoiced_90_days=zero,
        open_invoices=0,
        overdue_invoices=0,
        recorded_at=now,
    )
