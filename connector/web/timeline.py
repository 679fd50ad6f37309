"""One customer's history and what comes next, as one list in time order: every message sent (with where it went
and what became of it), every step done for a person (a call, a handover), what people decided (pauses,
approvals, overrides), the invoices arriving and being paid, and what is planned."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from connector.store.customers import CustomerFile
from connector.workflow.planner import PlannedAction

DONE = ("sent", "done")
WAITING = ("pending", "executing", "sending", "awaiting_approval")


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # sent | planned | person | ledger | problem
    title: str  # a stage name, an event, or what happened in the ledger
    invoices: tuple[str, ...] = ()  # invoice numbers
    detail: str = ""
    status: str = ""
    by: str | None = None
    key: str | None = None  # the action's key, for its preview and proof
    reason: str | None = None  # a pause's: dispute, arrangement, hold
    extra: dict[str, str] = field(default_factory=dict)


def timeline(file: CustomerFile, next_steps: list[PlannedAction], zone: ZoneInfo) -> list[Entry]:
    numbers = {invoice.ledger_id: invoice.number or invoice.ledger_id for invoice in file.invoices}

    def named(ids: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        return tuple(numbers.get(ledger_id, ledger_id) for ledger_id in ids)

    entries: list[Entry] = []
    for invoice in file.invoices:
        entries.append(Entry(invoice.first_seen_at, "ledger", "invoice_seen", (numbers[invoice.ledger_id],)))
        if invoice.closed_at is not None:
            entries.append(
                Entry(invoice.closed_at, "ledger", f"invoice_{invoice.status}", (numbers[invoice.ledger_id],))
            )
    sent_by_action: dict[int, list[str]] = {}
    for message in file.messages:
        sent_by_action.setdefault(message.action_id, []).append(
            f"{message.channel}: {message.recipient} ({message.status})"
        )
    for action in file.actions:
        covered = named(file.covers.get(action.id or 0, []))
        if action.status in DONE or action.status == "undelivered":
            at = action.executed_at or action.updated_at
            kind = "problem" if action.status == "undelivered" else "sent"
            detail = "; ".join(sent_by_action.get(action.id or 0, []))
            entries.append(Entry(at, kind, action.stage, covered, detail, action.status, key=action.key))
        elif action.status in WAITING:
            planned = datetime.combine(action.planned_on, time(9), zone).astimezone(UTC)
            entries.append(Entry(planned, "planned", action.stage, covered, "", action.status, key=action.key))
        elif action.status in ("failed", "review"):
            entries.append(
                Entry(
                    action.updated_at,
                    "problem",
                    action.stage,
                    covered,
                    action.error or "",
                    action.status,
                    key=action.key,
                )
            )
        else:  # dropped (paid or paused before it went), rejected
            entries.append(
                Entry(
                    action.updated_at,
                    "ledger",
                    action.stage,
                    covered,
                    action.error or "",
                    action.status,
                    key=action.key,
                )
            )
    for entry in file.decisions:
        said = entry.detail
        invoices = named([entry.invoice_ledger_id]) if entry.invoice_ledger_id else ()
        entries.append(
            Entry(
                entry.at,
                "person",
                entry.event,
                invoices,
                str(said.get("note") or ""),
                by=str(said.get("by")),
                reason=str(said["reason"]) if said.get("reason") else None,
                extra={"until": str(said["until"])} if said.get("until") else {},
            )
        )
    pending = {entry.key for entry in entries if entry.kind == "planned"}
    for step in next_steps:
        if step.key in pending:
            continue
        planned = datetime.combine(step.planned_on, time(9), zone).astimezone(UTC)
        entries.append(
            Entry(planned, "planned", step.stage, named(step.invoices), step.reason, "forecast", key=step.key)
        )
    return sorted(entries, key=lambda entry: entry.at)
