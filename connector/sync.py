"""The mirror engine: one pass per administration, ledger -> adapter -> store.

Every batch the adapter yields is stored in one transaction together with the cursor that covers it, so a
crash mid-sync loses nothing and repeats nothing: the next pass asks the ledger for exactly what the store
does not yet hold. A record that cannot be mapped is quarantined with its reason and the rest goes on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from adapters.base import AuthError, LedgerAdapter, LedgerError, RateLimited, SyncState
from adapters.http import ApiClient
from connector.clock import Clock
from connector.log import get_logger
from connector.store import BatchResult, Store

log = get_logger("sync")


@dataclass
class SyncReport:
    administration: str
    outcome: str = "running"  # success | failed | auth_failed | rate_limited
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


def sync_administration(
    store: Store, adapter: LedgerAdapter, *, name: str, ledger_reference: str, clock: Clock
) -> SyncReport:
    """One mirror pass for one administration; never raises for ledger trouble, reports it instead."""
    administration_id = store.ensure_administration(name, adapter.platform, ledger_reference)
    _count_earlier_calls(store, adapter, administration_id, clock)
    run_id = store.start_sync_run(administration_id)
    report = SyncReport(administration=name, started_at=clock.now())
    bound = log.bind(administration=name, platform=adapter.platform)
    try:
        _sync_invoices(store, adapter, administration_id, report)
        _sync_contacts(store, adapter, administration_id, report)
        report.outcome = "success"
    except AuthError as exc:
        report.outcome, report.error = "auth_failed", str(exc)
        bound.error("sync.auth_failed", error=str(exc))
    except RateLimited as exc:
        report.outcome, report.error = "rate_limited", str(exc)
        bound.warning("sync.rate_limited", error=str(exc))
    except LedgerError as exc:
        report.outcome, report.error = "failed", f"{type(exc).__name__}: {exc}"
        bound.warning("sync.failed", error=report.error)
    except Exception as exc:  # a defect must not take the other administrations down
        report.outcome, report.error = "failed", f"{type(exc).__name__}: {exc}"
        bound.exception("sync.crashed")
    finally:
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


def _sync_invoices(store: Store, adapter: LedgerAdapter, administration_id: int, report: SyncReport) -> None:
    known = store.open_invoice_versions(administration_id)
    # A quarantined record is not fetched again until the ledger changes it.
    known.update(store.quarantined_versions(administration_id, "invoice"))
    state = SyncState(cursor=store.cursor(administration_id, "invoices"), known_versions=known)
    for batch in adapter.invoice_changes(state):
        report.add(store.apply_invoice_batch(administration_id, batch))


def _sync_contacts(store: Store, adapter: LedgerAdapter, administration_id: int, report: SyncReport) -> None:
    state = SyncState(
        cursor=store.cursor(administration_id, "contacts"),
        known_versions=store.contact_versions(administration_id),
        wanted_ids=frozenset(store.missing_contact_ids(administration_id)),
    )
    for batch in adapter.contact_changes(state):
        report.add(store.apply_contact_batch(administration_id, batch))


def _count_earlier_calls(store: Store, adapter: LedgerAdapter, administration_id: int, clock: Clock) -> None:
    """A fresh process does not know what the last one spent of the ledger's window: tell the limiter."""
    client = getattr(adapter, "client", None)
    if not isinstance(client, ApiClient):
        return
    limiter = client.limiter
    if limiter.used or not limiter.learns_from_store:
        return
    now = clock.now()
    for finished_at, calls in store.recent_api_calls(administration_id, timedelta(seconds=limiter.limit.per_seconds)):
        limiter.record_past_calls(calls, (now - finished_at).total_seconds())
    limiter.learns_from_store = False
