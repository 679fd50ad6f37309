"""The mirror engine: one pass per administration, ledger -> adapter -> store.

Every batch the adapter yields is stored in one transaction together with the cursor that covers it, so a
crash mid-sync loses nothing and repeats nothing: the next pass asks the ledger for exactly what the store
does not yet hold. A record that cannot be mapped — or that the store refuses — is quarantined with its
reason and the rest goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from connector import spent_calls
from connector.clock import Clock
from connector.domain import Contact, Invoice
from connector.ledger import records as ledger_records
from connector.ledger.port import AuthError, BadRecord, ChangeBatch, LedgerAdapter, LedgerError, RateLimited, SyncState
from connector.log import get_logger, redact_text
from connector.store import BatchResult, Store

log = get_logger("sync")
# How the store refuses one record's data (a value out of range, one JSON cannot carry); the drivers
# differ in whether they wrap it.
REFUSALS = (sa.exc.StatementError, TypeError, ValueError)


def _database_trouble(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.InternalError)


RecordT = TypeVar("RecordT", Invoice, Contact)


@dataclass
class SyncReport:
    administration: str
    outcome: str = "running"  # success | failed | auth_failed | rate_limited | interrupted
    invoices_upserted: int = 0
    invoices_closed: int = 0
    contacts_upserted: int = 0
    quarantined: int = 0
    api_calls: int = 0
    api_calls_by_endpoint: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def add(self, result: BatchResult) -> None:
        self.invoices_upserted += result.upserted
        self.invoices_closed += result.closed
        self.contacts_upserted += result.contacts
        self.quarantined += result.quarantined

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    @property
    def seconds(self) -> float:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        data["seconds"] = round(self.seconds, 3)
        return data


class _Pass:
    """The bookkeeping of one pass: stores batches and keeps the run's spending up to date."""

    def __init__(
        self,
        store: Store,
        adapter: LedgerAdapter,
        administration_id: int,
        run_id: int,
        should_stop: Callable[[], bool],
        progress: Callable[[SyncReport], None],
    ) -> None:
        self.store, self.adapter = store, adapter
        self.administration_id, self.run_id = administration_id, run_id
        self.should_stop = should_stop
        self.progress = progress
        self.report: SyncReport

    def store_batch(
        self, batch: ChangeBatch[RecordT], apply: Callable[[int, ChangeBatch[RecordT]], BatchResult]
    ) -> None:
        batch = ledger_records.vet(batch)
        try:
            result = apply(self.administration_id, batch)
        except REFUSALS as exc:
            if _database_trouble(exc):
                raise  # the database itself is in trouble: that is not the record's fault
            result = self._one_by_one(batch, apply)
        self.report.add(result)
        self.report.api_calls = sum(self.adapter.api_calls().values())
        self.store.record_progress(self.run_id, self.report.api_calls)
        self.progress(self.report)
        if self.should_stop():
            raise _Stopped

    def _one_by_one(
        self, batch: ChangeBatch[RecordT], apply: Callable[[int, ChangeBatch[RecordT]], BatchResult]
    ) -> BatchResult:
        """The store refused the batch: find the records it refuses, quarantine those, keep the rest."""
        totals = BatchResult()
        refused: list[BadRecord] = []
        singles: list[ChangeBatch[Any]] = [ChangeBatch(contacts=[c]) for c in batch.contacts]
        singles += [ChangeBatch(records=[r]) for r in batch.records]
        for single in singles:
            record = (single.records or single.contacts)[0]
            try:
                totals += apply(self.administration_id, single)
            except REFUSALS as exc:
                if _database_trouble(exc):
                    raise
                cause = getattr(exc, "orig", None) or exc
                reason = f"the store refused it: {type(cause).__name__}: {str(cause).splitlines()[0][:300]}"
                entity = "contact" if isinstance(record, Contact) else "invoice"
                refused.append(BadRecord(entity, record.ledger_id, reason, _jsonable(record.raw), record.version))
        # Deletions, quarantine and the cursor go last, so a crash before this point repeats, never skips.
        rest: ChangeBatch[RecordT] = replace(batch, records=[], contacts=[], bad=[*batch.bad, *refused])
        return totals + apply(self.administration_id, rest)


class _Stopped(Exception):
    """The daemon is shutting down: the pass ends between two batches, each batch already committed."""


def sync_administration(
    store: Store,
    adapter: LedgerAdapter,
    *,
    name: str,
    ledger_reference: str,
    clock: Clock,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[SyncReport], None] = lambda report: None,
) -> SyncReport:
    """One mirror pass for one administration; never raises for ledger trouble, reports it instead. `progress`
    sees the report after each batch is stored (a terminal shows it)."""
    administration_id = store.ensure_administration(name, adapter.platform, ledger_reference)
    limiter = adapter.rate_limiter()
    rate_key = limiter.key if limiter is not None and limiter.key else None
    spent_calls.learn(store, limiter, clock)
    run_id = store.start_sync_run(administration_id, rate_key)
    work = _Pass(store, adapter, administration_id, run_id, should_stop, progress)
    report = work.report = SyncReport(administration=name, started_at=clock.now())
    bound = log.bind(administration=name, platform=adapter.platform)
    try:
        _sync_invoices(work)
        _sync_contacts(work)
        report.outcome = "success"
    except _Stopped:
        report.outcome = "interrupted"
        bound.info("sync.stopped_for_shutdown")
    except AuthError as exc:
        report.outcome, report.error = "auth_failed", redact_text(str(exc))
        bound.error("sync.auth_failed", error=report.error)
    except RateLimited as exc:
        report.outcome, report.error = "rate_limited", redact_text(str(exc))
        bound.warning("sync.rate_limited", error=report.error)
    except LedgerError as exc:
        report.outcome, report.error = "failed", redact_text(f"{type(exc).__name__}: {exc}")
        bound.warning("sync.failed", error=report.error)
    except Exception as exc:  # a defect must not take the other administrations down
        report.outcome, report.error = "failed", redact_text(f"{type(exc).__name__}: {exc}")
        bound.exception("sync.crashed")
    finally:
        if report.outcome == "running":  # a BaseException (Ctrl-C, shutdown) is on its way out
            report.outcome = "interrupted"
        calls = dict(adapter.api_calls())
        report.api_calls_by_endpoint = calls
        report.api_calls = sum(calls.values())
        run = store.finish_sync_run(
            run_id,
            outcome=report.outcome,
            invoices_upserted=report.invoices_upserted,
            invoices_closed=report.invoices_closed,
            contacts_upserted=report.contacts_upserted,
            quarantined=report.quarantined,
            api_calls=report.api_calls,
            api_calls_by_endpoint=calls,
            error=report.error,
        )
        report.finished_at = run.finished_at
    bound.info(
        "sync.finished",
        outcome=report.outcome,
        upserted=report.invoices_upserted,
        closed=report.invoices_closed,
        contacts=report.contacts_upserted,
        quarantined=report.quarantined,
        api_calls=report.api_calls,
        seconds=round(report.seconds, 2),
    )
    return report


def _sync_invoices(work: _Pass) -> None:
    store, administration_id = work.store, work.administration_id
    state = SyncState(
        cursor=store.cursor(administration_id, "invoices"),
        known_versions=store.open_invoice_versions(administration_id),
        # Not fetched again until the ledger changes them.
        quarantined_versions=store.quarantined_versions(administration_id, "invoice"),
        stored_raw=lambda ids: store.raw_payloads(administration_id, "invoice", ids),
    )
    for batch in work.adapter.invoice_changes(state):
        work.store_batch(batch, store.apply_invoice_batch)


def _sync_contacts(work: _Pass) -> None:
    store, administration_id = work.store, work.administration_id
    state = SyncState(
        cursor=store.cursor(administration_id, "contacts"),
        known_versions=store.contact_versions(administration_id),
        quarantined_versions=store.quarantined_versions(administration_id, "contact"),
        wanted_ids=frozenset(store.missing_contact_ids(administration_id)),
        stored_raw=lambda ids: store.raw_payloads(administration_id, "contact", ids),
    )
    for batch in work.adapter.contact_changes(state):
        work.store_batch(batch, store.apply_contact_batch)


def _jsonable(raw: Any) -> Any:
    """A payload the store refused may hold values JSON cannot carry; keep what can be kept."""
    return json.loads(json.dumps(raw, default=repr))
