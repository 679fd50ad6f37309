"""Benchmark: an Exact Online division with 20,000 open payment terms, its first load and a day of syncs.

Exact allows 5,000 calls a day per app and division. This runs the simulator and the connector on one
simulated clock: the first load, then a sync every 10 minutes for 24 hours while customers pay (in full
and in part), new invoices are booked, e-mail addresses change and a few invoices are deleted. Printed:
API calls per endpoint, token refreshes (Exact allows 200 a day), wall and CPU time, and a check that the
mirror matches the ledger at the end.

The simulator's minutely limit is lifted so the run takes seconds instead of the hours a real day lasts;
the calls counted are the same (at Exact's 60 a minute the first load alone would take ~6 minutes).

    python benchmarks/bench_exact_day.py [--terms 20000] [--accounts 4000] [--interval 600]
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

from adapters.exact_online.adapter import ExactOnlineAdapter
from adapters.exact_online.settings import ExactOnlineAdministration
from adapters.exact_online.simulator import ExactOnlineSimulator
from connector.clock import ManualClock
from connector.ledger.http import HttpOptions
from connector.ledger.oauth import TokenGrant
from connector.log import configure_logging
from connector.store import Store
from connector.store.tokens import TokenVault
from connector.sync import SyncReport, sync_administration

TODAY = date(2026, 11, 24)
KEY = "9dS3Kq7d3wq5ZbZl2m8kQ7a3rUo9c4bVb2xW1y0zN6E="  # a benchmark-only Fernet key
DAILY_LIMIT = 5_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terms", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=4_000)
    parser.add_argument("--interval", type=int, default=600, help="seconds between syncs")
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    configure_logging("warning")
    clock = ManualClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    started = time.perf_counter()
    sim = ExactOnlineSimulator.generate(
        terms=args.terms, accounts=args.accounts, seed=1, today=TODAY, clock=clock,
        rate_limit_minutely=1_000_000, rate_limit_daily=1_000_000,
    )  # fmt: skip
    generated = time.perf_counter() - started
    print(f"simulator: {args.terms} open terms, {args.accounts} accounts, generated in {generated:.1f}s")
    with tempfile.TemporaryDirectory() as tmp, sim:
        store = Store.open(args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}", clock)
        config = ExactOnlineAdministration(
            name="bench", platform="exact_online", base_url=sim.base_url, division=sim.division,
            client_id=sim.client_id, client_secret=sim.client_secret,  # type: ignore[arg-type]
            rate_limit={"requests": 1_000_000, "per_seconds": 1},  # type: ignore[arg-type]
        )  # fmt: skip
        vault = TokenVault(store, KEY)
        body = sim.issue_tokens()
        vault.save_grant(
            "bench", "exact_online", sim.client_id, TokenGrant(body["access_token"], body["refresh_token"], 600)
        )
        options = HttpOptions(private_limiters=True)

        def sync() -> tuple[SyncReport, Counter[str], float, float]:
            sim.clear_requests()
            wall, cpu = time.perf_counter(), time.process_time()
            with ExactOnlineAdapter.from_config(config, clock, options, vault) as adapter:
                report = sync_administration(store, adapter, name="bench", ledger_reference="", clock=clock)
            assert report.ok, report.error
            calls = Counter(_endpoint(e["path"]) for e in sim.requests() if "/api/v1/" in e["path"])
            return report, calls, time.perf_counter() - wall, time.process_time() - cpu

        refreshes_before = sim.token_refreshes
        report, first_calls, wall, cpu = sync()
        print(f"\nfirst load: {report.invoices_upserted} invoices, {report.contacts_upserted} customers")
        print(f"  {sum(first_calls.values())} API calls in {wall:.1f}s wall, {cpu:.1f}s CPU")
        for endpoint, count in sorted(first_calls.items()):
            print(f"    {count:5d}  {endpoint}")

        day_calls: Counter[str] = Counter()
        steps = 24 * 3600 // args.interval
        events = _day_of_events(sim, steps, random.Random(7))
        changes = Counter(kind for step in events.values() for kind, _ in step)
        day_wall = day_cpu = 0.0
        for step in range(steps):
            clock.advance(timedelta(seconds=args.interval))
            for kind, target in events.get(step, []):
                _apply(sim, kind, target)
            _, calls, wall, cpu = sync()
            day_calls += calls
            day_wall += wall
            day_cpu += cpu
        print(
            f"\na day of syncs every {args.interval // 60} min: {steps} syncs; changes in the ledger: {dict(changes)}"
        )
        print(f"  {sum(day_calls.values())} API calls in {day_wall:.1f}s wall, {day_cpu:.1f}s CPU")
        for endpoint, count in sorted(day_calls.items()):
            print(f"    {count:5d}  {endpoint}")
        total = sum(first_calls.values()) + sum(day_calls.values())
        print(f"\nfirst load + day: {total} of {DAILY_LIMIT} calls ({total / DAILY_LIMIT:.0%})")
        print(f"token refreshes: {sim.token_refreshes - refreshes_before} (Exact allows 200 a day)")
        mirror = {view.ledger_id: view.open_amount for view in store.invoices("bench", "open")}
        ledger: dict[str, Decimal] = {}
        for term in sim.open_terms():
            number = str(term["InvoiceNumber"])
            ledger[number] = ledger.get(number, Decimal(0)) + Decimal(str(term["AmountDC"]))
        ledger = {k: v for k, v in ledger.items() if v != 0}
        print(f"mirror matches the ledger: {mirror == ledger} ({len(mirror)} open invoices)")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
        store.close()


def _endpoint(path: str) -> str:
    parts = path.split("/api/v1/", 1)[-1].split("/")
    return "/".join(parts[1:]) if parts[0].isdigit() else "/".join(parts)


def _day_of_events(sim: ExactOnlineSimulator, steps: int, dice: random.Random) -> dict[int, list[tuple[str, object]]]:
    """What happens in the ledger over a day, spread over the sync steps."""
    numbers = sim.open_invoice_numbers()
    dice.shuffle(numbers)
    accounts = sim.account_ids()
    plan: list[tuple[str, object]] = []
    plan += [("paid", n) for n in numbers[:200]]
    plan += [("part", n) for n in numbers[200:300]]
    plan += [("deleted", n) for n in numbers[300:305]]
    plan += [("new", dice.choice(accounts)) for _ in range(100)]
    plan += [("email", a) for a in dice.sample(accounts, 50)]
    events: dict[int, list[tuple[str, object]]] = {}
    for item in plan:
        events.setdefault(dice.randrange(steps), []).append(item)
    return events


def _apply(sim: ExactOnlineSimulator, kind: str, target: object) -> None:
    if kind in ("paid", "part"):
        owed = sum((Decimal(str(t["AmountDC"])) for t in sim.open_terms(int(str(target)))), Decimal(0))
        if owed > 0:
            sim.add_payment(int(str(target)), owed if kind == "paid" else (owed / 2).quantize(Decimal("0.01")))
    elif kind == "deleted":
        sim.delete_invoice(int(str(target)))
    elif kind == "new":
        sim.add_invoice(str(target), Decimal("242.00"), due_date=TODAY + timedelta(days=30), terms=1)
    elif kind == "email":
        sim.update_account(str(target), Email=f"nieuw-{str(target)[:8]}@example.nl")


if __name__ == "__main__":
    main()
