"""Benchmark: planning 100,000 open invoices (the pure planner, and reading its inputs from the store).

python benchmarks/bench_planner.py [--invoices 100000] [--contacts 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from connector.clock import ManualClock
from connector.store import Store
from connector.store.models import Contact, Invoice
from connector.store.workflow import WorkflowStore
from connector.workflow.legal import DebtorKind
from connector.workflow.planner import ContactFacts, Hold, InvoiceFacts, Planner, Progress
from connector.workflow.policy import default_policy

TODAY = date(2025, 6, 2)  # inside the verified rate table, so interest is computed, not flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    dice = random.Random(1)
    invoices = [
        InvoiceFacts(
            ledger_id=str(10**17 + i),
            number=f"2025-{i:06d}",
            contact_id=str(i % args.contacts),
            due_date=TODAY - timedelta(days=dice.randint(-30, 120)),
            currency="EUR",
            open_amount=Decimal(dice.randint(2500, 2_500_000)) / 100,
            language=dice.choice(["nl", "nl", "en"]),
        )
        for i in range(args.invoices)
    ]
    contacts = {
        str(c): ContactFacts(str(c), DebtorKind.BUSINESS if c % 3 == 0 else DebtorKind.CONSUMER)
        for c in range(args.contacts)
    }
    progress: dict[str, Progress] = {}
    for invoice in invoices[: args.invoices // 2]:
        overdue = (TODAY - invoice.due_date).days
        if overdue > 40:
            progress[invoice.ledger_id] = Progress(
                "ingebrekestelling", TODAY - timedelta(days=20), TODAY - timedelta(days=20)
            )
        elif overdue > 5:
            progress[invoice.ledger_id] = Progress("reminder", invoice.due_date + timedelta(days=3))
    for invoice in invoices[::97]:
        progress[invoice.ledger_id] = Progress(hold=Hold("dispute"))

    planner = Planner("bench", {"default": default_policy()})
    started, cpu = time.perf_counter(), time.process_time()
    actions = planner.plan(TODAY, invoices, progress, contacts)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    stages = Counter(a.stage for a in actions)
    covered = sum(len(a.invoices) for a in actions)
    print(
        f"pure planner: {args.invoices} open invoices over {args.contacts} contacts -> {len(actions)} actions "
        f"covering {covered} invoices in {wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    print("  actions by stage:", ", ".join(f"{stage} {count}" for stage, count in sorted(stages.items())))

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'plan.db'}"
        store = Store.open(url, ManualClock(datetime(2025, 6, 2, 8, tzinfo=UTC)))
        admin = store.ensure_administration("bench", "moneybird")
        _bulk_load(store, admin, invoices, args.contacts)
        started = time.perf_counter()
        inputs = WorkflowStore(store).planning_inputs(admin)
        read = time.perf_counter() - started
        started = time.perf_counter()
        from_store = Planner("bench", {"default": default_policy()}).plan(
            TODAY, inputs.invoices, inputs.progress, inputs.contacts
        )
        planned = time.perf_counter() - started
        store.close()
    backend = url.split(":")[0]
    print(f"from the store ({backend}): read inputs {read:.2f} s + plan {planned:.2f} s -> {len(from_store)} actions")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _bulk_load(store: Store, administration_id: int, invoices: list[InvoiceFacts], contacts: int) -> None:
    now = store.clock.now()
    with store.engine.begin() as connection:
        connection.execute(
            sa.insert(Contact),
            [
                {
                    "administration_id": administration_id,
                    "ledger_id": str(c),
                    "name": f"Klant {c}",
                    "is_business": c % 3 == 0,
                    "raw": {},
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for c in range(contacts)
            ],
        )
        connection.execute(
            sa.insert(Invoice),
            [
                {
                    "administration_id": administration_id,
                    "ledger_id": i.ledger_id,
                    "number": i.number,
                    "contact_ledger_id": i.contact_id,
                    "due_date": i.due_date,
                    "currency": "EUR",
                    "total": i.open_amount,
                    "open_amount": i.open_amount,
                    "status": "open",
                    "ledger_state": "late",
                    "language": i.language,
                    "raw": {},
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for i in invoices
            ],
        )


if __name__ == "__main__":
    main()
