"""Benchmark: what the dispatch costs each ledger's API, per message and per note written back.

For every registered ledger, through its own simulator: a generated administration is mirrored, then each
business day is synced and dispatched (e-mails into a local SMTP sink). Printed per ledger: messages and notes,
the API calls the dispatch made by endpoint (re-checks, notes, pauses), the calls per note, and how often the
write-back asked the ledger for a note before writing it (only after an attempt that may have written). Then the
same again with each invoice's own PDF attached to its e-mails: the calls that costs per attachment.

    python benchmarks/bench_writeback.py [--invoices 200] [--contacts 60] [--days 15]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from connector.administration import Company
from connector.clock import AMSTERDAM, ManualClock
from connector.config import EmailSection
from connector.dispatch.dispatcher import Dispatcher
from connector.dispatch.mailsink import MailSink
from connector.ledger import registry
from connector.ledger.http import HttpOptions, RetryPolicy
from connector.ledger.port import LedgerAdapter, SimulatedLedger
from connector.log import configure_logging
from connector.store import Store
from connector.store.approvals import ApprovalStore
from connector.store.tokens import TokenVault
from connector.sync import sync_administration
from connector.workflow.calendar import BusinessCalendar
from connector.workflow.policy import DEFAULT_POLICY, default_policy

START = date(2026, 11, 23)  # a Monday
COMPANY = Company(
    name="Bakkerij De Vries",
    legal_name="De Vries Bakkerijen B.V.",
    kvk="12345678",
    address="Bakkersstraat 1, 3511 AB Utrecht",
    statutory_seat="Utrecht",
)
OPTIONS = HttpOptions(retry=RetryPolicy(attempts=8, initial_wait=0.01, max_wait=0.05), private_limiters=True)


class Counted:
    """The API calls made inside the adapter's note methods, counted per method."""

    def __init__(self, adapter: LedgerAdapter) -> None:
        self.adapter = adapter
        self.calls: Counter[str] = Counter()
        self.invocations: Counter[str] = Counter()
        for name in ("add_note", "find_note"):
            setattr(adapter, name, self._counting(name, getattr(adapter, name)))

    def _counting(self, name: str, method: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            before = sum(self.adapter.api_calls().values())
            try:
                return method(*args, **kwargs)
            finally:
                self.invocations[name] += 1
                self.calls[name] += sum(self.adapter.api_calls().values()) - before

        return counted


def run(ledger: str, invoices: int, contacts: int, days: int, *, attach: bool = False) -> dict[str, Any]:
    platform = registry.platform(ledger)
    assert platform.simulated is not None
    simulated_class: type[SimulatedLedger] = registry.load(platform.simulated)
    clock = ManualClock(datetime.combine(START, clock_time(8), tzinfo=AMSTERDAM).astimezone(UTC))
    with tempfile.TemporaryDirectory() as folder, MailSink() as sink:
        store = Store.open(f"sqlite:///{Path(folder) / 'store.db'}", clock)
        vault = TokenVault(store, Fernet.generate_key().decode())
        with simulated_class.start(invoices=invoices, contacts=contacts, seed=5, today=START, clock=clock) as sim:
            settings = sim.settings("bench", company=COMPANY, rate_limit={"requests": 100_000, "per_seconds": 1})
            grant = sim.grant()
            if grant is not None and settings.token_connection:
                vault.save_grant(settings.token_connection, platform.name, "bench", grant)
            policies = {DEFAULT_POLICY: default_policy()}
            adapter = platform.create(settings, clock, OPTIONS, vault)
            counted = Counted(adapter)
            dispatcher = Dispatcher(
                store=store,
                adapter=adapter,
                administration=settings,
                policies=policies,
                clock=clock,
                email=EmailSection(host="127.0.0.1", port=sink.port, security="none", from_address="d@bench.example"),
                handover_dir=Path(folder) / "handover",
                attach_invoice_pdfs=attach,
            )
            store.ensure_administration(settings.name, platform.name, settings.ledger_reference)
            ApprovalStore(store).approve_administration(settings, policies, by="benchmark", note="benchmark")
            calendar = BusinessCalendar()
            dispatch_calls: Counter[str] = Counter()
            seconds = 0.0
            day = START
            for _ in range(days):
                while not calendar.is_send_day(day):
                    day += timedelta(days=1)
                clock.set(datetime.combine(day, clock_time(10), tzinfo=AMSTERDAM).astimezone(UTC))
                sync_administration(store, adapter, name=settings.name, ledger_reference="", clock=clock)
                before = Counter(adapter.api_calls())
                started = time.perf_counter()
                dispatcher.run()
                seconds += time.perf_counter() - started
                dispatch_calls += Counter(adapter.api_calls()) - before
                day += timedelta(days=1)
            adapter.close()
        store.close()
        notes = counted.invocations["add_note"]
        attached = [str(p.get_filename()) for m in sink.messages for p in m.iter_attachments()]
        return {
            "invoice_pdfs": sum(1 for name in attached if name.startswith(("factuur-", "invoice-"))),
            "letters": sum(1 for name in attached if name.startswith(("brief-", "letter-"))),
            "ledger": ledger,
            "messages": len(sink.messages),
            "notes": notes,
            "note_calls": counted.calls["add_note"] + counted.calls["find_note"],
            "lookups": counted.invocations["find_note"],
            "dispatch_calls": dict(sorted(dispatch_calls.items())),
            "seconds": seconds,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=60)
    parser.add_argument("--days", type=int, default=15, help="business days to dispatch")
    args = parser.parse_args()
    configure_logging("warning", "console")
    print(f"Dispatch over {args.days} business days, {args.invoices} invoices over {args.contacts} customers:\n")
    for name in registry.names():
        result = run(name, args.invoices, args.contacts, args.days)
        per_note = result["note_calls"] / result["notes"] if result["notes"] else 0.0
        total = sum(result["dispatch_calls"].values())
        print(
            f"{name}: {result['messages']} e-mails, {result['notes']} notes at {per_note:.2f} calls per note "
            f"({result['lookups']} looked up first); {total} dispatch calls, "
            f"{total / max(result['messages'], 1):.1f} per e-mail; {result['seconds']:.1f} s"
        )
        for endpoint, calls in result["dispatch_calls"].items():
            print(f"    {endpoint:<40} {calls:>6}")
        print(f"    {result['letters']} e-mails carried their letter as PDF")
        attached = run(name, args.invoices, args.contacts, args.days, attach=True)
        extra = sum(attached["dispatch_calls"].values()) - total
        print(
            f"  with each invoice's own PDF: {attached['invoice_pdfs']} attached, {extra} more dispatch calls "
            f"({extra / max(attached['invoice_pdfs'], 1):.2f} per attachment; each invoice fetched once); "
            f"{attached['seconds']:.1f} s"
        )
        print()


if __name__ == "__main__":
    main()
