"""What the health endpoint knows per administration: readiness, figures for /metrics, the /status document.

Everything is read from the store (not from the process's memory), so it tells the truth after a restart and
whichever process did the work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal

from connector.clock import Clock, business_date
from connector.config import AdministrationConfig, Settings
from connector.reports import Bucket, ageing, bucket_floors
from connector.store.approvals import Approval, ApprovalStore, awaiting_approval_reason
from connector.store.channels import ChannelHealthStore, ChannelState
from connector.store.leases import LeaseRow
from connector.store.models import Replica, SyncRun
from connector.store.outbox import OPEN_STATES
from connector.store.overview import LastSync, OpenInvoiceTotal, OverviewStore
from connector.store.workflow import WorkflowStore


@dataclass
class AdministrationFigures:
    config: AdministrationConfig
    administration_id: int | None = None
    parked_at: datetime | None = None
    parked_reason: str | None = None
    last_run: SyncRun | None = None
    last_finished_run: SyncRun | None = None
    last_success_at: datetime | None = None
    invoices_mirrored: int = 0
    open_totals: list[OpenInvoiceTotal] = field(default_factory=list)
    actions: Mapping[tuple[str, str], int] = field(default_factory=dict)
    oldest_unfinished_at: datetime | None = None
    quarantined: int = 0
    lease: LeaseRow | None = None
    approval: Approval | None = None  # the latest approval of the administration, if any
    approved: bool = False  # ...and whether it covers the policy in force
    awaiting_approval: Mapping[str, int] = field(default_factory=dict)  # stage -> actions waiting for a person
    channels: list[ChannelState] = field(default_factory=list)  # how its channels fared lately
    channel_failing_after: int = 3

    @property
    def name(self) -> str:
        return self.config.name

    def not_ready_because(self, now: datetime) -> str | None:
        """Why this administration is not ready, or None when it is: parked; or behind on syncing, without the
        sender's details, not approved, a channel failing (each that holds is named)."""
        if self.parked_at is not None:
            return f"parked since {self.parked_at.isoformat()}: {self.parked_reason}; a person must act"
        reasons = [
            reason
            for reason in (self._sync_behind(now), self.config.sender_missing(), self.not_approved_because)
            if reason
        ]
        reasons += [channel.reason() for channel in self.failing_channels]
        return "; ".join(reasons) or None

    @property
    def failing_channels(self) -> list[ChannelState]:
        return [channel for channel in self.channels if channel.failing(self.channel_failing_after)]

    @property
    def not_approved_because(self) -> str | None:
        return None if self.approved else awaiting_approval_reason(self.name, self.config.policy)

    def _sync_behind(self, now: datetime) -> str | None:
        if self.last_success_at is None:
            return "no successful sync yet" + self._last_failure()
        age = (now - self.last_success_at).total_seconds()
        if age > self.config.stale_after:
            return (
                f"last successful sync {int(age)} s ago (threshold {self.config.stale_after} s)" + self._last_failure()
            )
        return None

    def _last_failure(self) -> str:
        """The latest finished attempt's failure, and a sync in progress if there is one (both matter: a retry
        running right now does not make the previous failure less true)."""
        reason = ""
        finished = self.last_finished_run
        if finished is not None and finished.outcome != "success":
            reason += f"; last attempt {finished.outcome}" + (f": {finished.error}" if finished.error else "")
        running = self.last_run
        if running is not None and running.outcome == "running":
            reason += f"; a sync has been running since {running.started_at.isoformat()}"
        return reason

    @property
    def waiting_for_a_person(self) -> str | None:
        """What waits for a person's approval (the administration stays ready: the rest goes on)."""
        if not self.awaiting_approval:
            return None
        stages = ", ".join(f"{stage} {count}" for stage, count in sorted(self.awaiting_approval.items()))
        total = sum(self.awaiting_approval.values())
        return f"{total} action(s) await approval ({stages}): `connector outbox --status awaiting_approval`"

    @property
    def open_invoice_count(self) -> int:
        return sum(total.count for total in self.open_totals)

    @property
    def open_amounts(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for total in self.open_totals:
            totals[total.currency] = totals.get(total.currency, Decimal(0)) + total.amount
        return totals

    @property
    def ageing(self) -> list[Bucket]:
        """As of the business date the figures were gathered on."""
        return ageing(self.open_totals)

    @property
    def outbox_depth(self) -> int:
        return sum(count for (_, status), count in self.actions.items() if status in OPEN_STATES)


def gather(
    overview: OverviewStore,
    settings: Settings,
    leases: Mapping[str, LeaseRow] | None = None,
    *,
    detail: bool = True,
    today: date | None = None,
    only: str | None = None,
) -> list[AdministrationFigures]:
    """The figures of every enabled administration, in a handful of queries that aggregate in the database (what
    they return does not grow with the number of invoices). Without `detail` only what readiness needs: parking
    and sync runs. Invoices are aged as of `today`, by default the business date on the store's clock. With `only`,
    that one administration's (its invoices and actions alone are read)."""
    leases = leases or {}
    records = overview.administrations()
    syncs = overview.last_syncs()
    approvals = ApprovalStore(overview.store)
    latest_approvals = approvals.latest_per_administration()
    awaiting = approvals.awaiting_counts()
    channels = ChannelHealthStore(overview.store).states()
    counts: dict[int, int] = {}
    open_totals: dict[int, list[OpenInvoiceTotal]] = {}
    actions: dict[int, dict[tuple[str, str], int]] = {}
    oldest: dict[int, datetime] = {}
    quarantined: dict[int, int] = {}
    one = records[only].id if only is not None and only in records else None
    if detail:
        today = today or business_date(overview.store.clock, settings.connector.zone)
        counts = overview.invoice_counts(one)
        open_totals = overview.open_invoice_totals(bucket_floors(today), one)
        actions = overview.action_counts(one)
        oldest = overview.oldest_unfinished_actions(one)
        quarantined = overview.quarantine_counts(one)
    found = []
    for config in settings.enabled_administrations:
        if only is not None and config.name != only:
            continue
        record = records.get(config.name)
        figures = AdministrationFigures(
            config, lease=leases.get(config.name), channel_failing_after=settings.connector.channel_failing_after
        )
        if record is not None:
            last = syncs.get(record.id, LastSync(None, None))
            figures.administration_id = record.id
            figures.parked_at, figures.parked_reason = record.parked_at, record.parked_reason
            figures.last_run, figures.last_success_at = last.run, last.last_success_at
            figures.last_finished_run = last.finished
            figures.invoices_mirrored = counts.get(record.id, 0)
            figures.open_totals = open_totals.get(record.id, [])
            figures.actions = actions.get(record.id, {})
            figures.oldest_unfinished_at = oldest.get(record.id)
            figures.quarantined = quarantined.get(record.id, 0)
            figures.approval = latest_approvals.get(record.id)
            figures.awaiting_approval = awaiting.get(record.id, {})
            figures.channels = channels.get(record.id, [])
        policy = settings.policies.get(config.policy)
        figures.approved = (
            figures.approval is not None
            and policy is not None
            and figures.approval.covers(config.policy, policy.fingerprint())
        )
        found.append(figures)
    return found


def readiness(
    figures: list[AdministrationFigures], now: datetime, store_error: str | None
) -> tuple[bool, dict[str, Any]]:
    """Ready when the store answers and every enabled administration synced successfully recently enough.
    Names administrations and reasons only: no customer data."""
    administrations = {}
    for item in figures:
        reason = item.not_ready_because(now)
        waiting = item.waiting_for_a_person
        administrations[item.name] = {
            "ready": reason is None,
            **({"reason": reason} if reason else {}),
            **({"waiting": waiting} if waiting else {}),
        }
    ready = store_error is None and all(a["ready"] for a in administrations.values())
    return ready, {
        "ready": ready,
        "store": "ok" if store_error is None else f"unreachable: {store_error}",
        "administrations": administrations,
    }


def status_document(
    figures: list[AdministrationFigures],
    overview: OverviewStore,
    settings: Settings,
    clock: Clock,
    runtime: Mapping[str, Any],
) -> dict[str, Any]:
    """/status: per administration what a person wants to see at a glance (this one does hold customer data)."""
    now = clock.now()
    today = business_date(clock, settings.connector.zone)
    workflow = WorkflowStore(overview.store)
    administrations = []
    for item in figures:
        reason = item.not_ready_because(now)
        due: list[Any] = []
        attention: list[dict[str, Any]] = []
        if item.administration_id is not None:
            due = workflow.due_actions(item.administration_id, item.config, settings.policies, today, settings.rates)
            attention = [
                {
                    "kind": f"action_{action.status}",
                    "key": action.key[:12],
                    "stage": action.stage,
                    "contact_id": action.contact_ledger_id,
                    "error": action.error,
                    "since": action.updated_at.isoformat(),
                }
                for action in overview.needing_attention(item.administration_id)
            ]
        for warning in sorted({warning for action in due for warning in action.warnings}):
            attention.append({"kind": "interest_not_computed", "error": warning})
        if item.parked_at is not None:
            attention.insert(0, {"kind": "parked", "error": item.parked_reason, "since": item.parked_at.isoformat()})
        if not item.approved:
            attention.insert(0, {"kind": "awaiting_approval", "error": item.not_approved_because})
        if (sender_missing := item.config.sender_missing()) is not None:
            attention.insert(0, {"kind": "sender_missing", "error": sender_missing})
        for channel in item.failing_channels:
            attention.insert(
                0,
                {
                    "kind": "channel_failing",
                    "channel": channel.channel,
                    "error": channel.reason(),
                    "since": channel.failing_since.isoformat() if channel.failing_since else None,
                },
            )
        if item.quarantined:
            attention.append({"kind": "quarantine", "error": f"{item.quarantined} record(s) could not be mirrored"})
        run = item.last_run
        administrations.append(
            {
                "name": item.name,
                "platform": item.config.platform,
                "ready": reason is None,
                "not_ready_because": reason,
                "parked": item.parked_at is not None,
                "approval": {
                    "approved": item.approved,
                    "policy": item.config.policy,
                    "latest": item.approval.to_json() if item.approval else None,
                    "actions_awaiting": dict(item.awaiting_approval),
                    "waiting": item.waiting_for_a_person,
                },
                "sync_interval_seconds": item.config.sync_interval,
                "stale_after_seconds": item.config.stale_after,
                "last_sync": None
                if run is None
                else {
                    "started_at": run.started_at.isoformat(),
                    "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                    "outcome": run.outcome,
                    "error": run.error,
                    "api_calls": run.api_calls,
                },
                "last_successful_sync_at": item.last_success_at.isoformat() if item.last_success_at else None,
                "invoices_mirrored": item.invoices_mirrored,
                "open_invoices": item.open_invoice_count,
                "open_amount": {currency: str(amount) for currency, amount in sorted(item.open_amounts.items())},
                "ageing": [
                    {"bucket": bucket.label, "invoices": bucket.count, "amount": str(bucket.amount)}
                    for bucket in item.ageing
                ],
                "actions_due_today": len(due),
                "actions_due_today_by_stage": dict(Counter(action.stage for action in due)),
                "outbox_depth": item.outbox_depth,
                "actions": _actions_by_stage(item.actions),
                "attention": attention,
                "channels": [channel.to_json(item.channel_failing_after) for channel in item.channels],
                "next_run_at": runtime.get("next_runs", {}).get(item.name),
                "api_budget": runtime.get("api_budgets", {}).get(item.name),
                "lease": lease_document(item.lease, runtime.get("lease_now") or now),
            }
        )
    return {
        "generated_at": now.isoformat(),
        "business_date": today.isoformat(),
        "started_at": runtime.get("started_at"),
        "version": runtime.get("version"),
        "replica": runtime.get("replica"),
        "replicas": runtime.get("replicas", []),
        "administrations": administrations,
    }


def lease_document(lease: LeaseRow | None, now: datetime) -> dict[str, Any] | None:
    """Who owns an administration, since when, until when, and how often it was taken over."""
    if lease is None:
        return None
    holder = lease.holder(now)
    return {
        "owner": holder,
        "epoch": lease.epoch,
        "acquired_at": lease.acquired_at.isoformat() if lease.acquired_at else None,
        "age_seconds": round((now - lease.acquired_at).total_seconds()) if holder and lease.acquired_at else None,
        "renewed_at": lease.renewed_at.isoformat() if lease.renewed_at else None,
        "expires_at": lease.expires_at.isoformat() if lease.expires_at else None,
        "takeovers": lease.takeovers,
        "previous_owner": lease.previous_owner,
    }


def replica_documents(replicas: list[Replica], leases: Mapping[str, LeaseRow], now: datetime) -> list[dict[str, Any]]:
    owned = Counter(holder for lease in leases.values() if (holder := lease.holder(now)) is not None)
    return [
        {
            "name": replica.name,
            "host": replica.host,
            "pid": replica.pid,
            "started_at": replica.started_at.isoformat(),
            "heartbeat_at": replica.heartbeat_at.isoformat(),
            "alive": replica.expires_at > now,
            "administrations": owned.get(replica.name, 0),
        }
        for replica in replicas
    ]


def _actions_by_stage(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    by_stage: dict[str, dict[str, int]] = {}
    for (stage, status), count in sorted(counts.items()):
        by_stage.setdefault(stage, {})[status] = count
    return by_stage


def money(amount: str | Decimal) -> str:
    """Amounts for people, Dutch style (1.234,56); the JSON keeps plain decimal strings."""
    return format_decimal(Decimal(amount), format="#,##0.00", locale="nl_NL")
