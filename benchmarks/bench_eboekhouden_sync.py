"""Benchmark: an e-Boekhouden administration with 5,000 open items over 1,000 relations.

e-Boekhouden has no change feed and no due dates, so the connector derives what it needs and keeps it. This
runs the simulator and the connector on one simulated clock: the first load, a pass with nothing changed,
then a day of passes every 5 minutes while customers pay (in full and in part), invoices are booked (with
and without an invoice record) and deleted, and relations are edited. Printed: API calls per endpoint (the
first load's per-item calls against the items no list covers, relation reads against the relations), wall
and CPU time, and whether the mirror matches the ledger at the end.

The connector's own rate limit (2 calls a second; e-Boekhouden publishes none) is lifted so the run takes
seconds; the calls counted are the same (at 2 a second the first load would take about 9 minutes).

    python benchmarks/bench_eboekhouden_sync.py [--items 5000] [--relations 1000] [--interval 300]
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

from adapters.eboekhouden.adapter import EboekhoudenAdapter
from adapters.eboekhouden.settings import EboekhoudenAdministration
from adapters.eboekhouden.simulator import EboekhoudenSimulator
from connector.clock import ManualClock
from connector.ledger.http import HttpOptions
from connector.log import configure_logging
from connector.store import Store
from connector.sync import SyncReport, sync_administration

TODAY = date(2026, 11, 24)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--relations", type=int, default=1_000)
    parser.add_argument("--interval", type=int, default=300, help="seconds between passes")
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    configure_logging("warning")
    clock = ManualClock(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    started = time.perf_counter()
    sim = EboekhoudenSimulator.generate(items=args.items, relations=args.relations, seed=1, today=TODAY, clock=clock)
    print(f"simulator: {args.items} open items, {args.relations} relations, generated in "
          f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, sim:
        store = Store.open(args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}", clock)
        config = EboekhoudenAdministration(
            name="bench", platform="eboekhouden", base_url=sim.base_url, api_token=sim.api_token,  # type: ignore[arg-type]
            rate_limit={"requests": 1_000_000, "per_seconds": 1},  # type: ignore[arg-type]
            sync_interval_seconds=args.interval,
        )  # fmt: skip
        options = HttpOptions(private_limiters=True)

        def sync() -> tuple[SyncReport, Counter[str], float, float]:
            sim.clear_requests()
            wall, cpu = time.perf_counter(), time.process_time()
            with EboekhoudenAdapter.from_config(config, clock, options) as adapter:
                report = sync_administration(store, adapter, name="bench", ledger_reference="", clock=clock)
            assert report.ok, report.error
            calls = Counter(_route(e["method"], e["path"]) for e in sim.requests() if e["path"].startswith("/v1/"))
            return report, calls, time.perf_counter() - wall, time.process_time() - cpu

        open_ids = sim.outstanding_ids()
        uncovered = sum(1 for i in open_ids if not (sim.invoice_for(i) or {}).get("termOfPayment"))
        relations = len({sim.outstanding(i)["relationId"] for i in open_ids})  # type: ignore[index]
        report, calls, wall, cpu = sync()
        print(f"\nfirst load: {report.invoices_upserted} invoices, {report.contacts_upserted} relations")
        print(f"  {sum(calls.values())} API calls in {wall:.1f}s wall, {cpu:.1f}s CPU")
        _print(calls)
        print(f"  items no invoice record covers: {uncovered} (per-item reads: {calls['GET mutation/{id}']})")
        print(f"  relations with open items: {relations} (relation reads: {calls['GET relation/{id}']})")

        clock.advance(timedelta(seconds=args.interval))
        report, calls, wall, cpu = sync()
        print(f"\na pass with nothing changed: {sum(calls.values())} API calls in {wall:.2f}s wall, {cpu:.2f}s CPU")
        _print(calls)

        steps = 24 * 3600 // args.interval
        events = _day_of_events(sim, steps, random.Random(7))
        changes = Counter(kind for step in events.values() for kind, _ in step)
        day_calls: Counter[str] = Counter()
        day_wall = day_cpu = 0.0
        for step in range(steps):
            clock.advance(timedelta(seconds=args.interval))
            for kind, target in events.get(step, []):
                _apply(sim, kind, target)
            _, calls, wall, cpu = sync()
            day_calls += calls
            day_wall += wall
            day_cpu += cpu
        print(f"\na day of passes every {args.interval // 60} min: {steps} passes; changes: {dict(changes)}")
        print(f"  {sum(day_calls.values())} API calls in {day_wall:.1f}s wall, {day_cpu:.1f}s CPU")
        _print(day_calls)
        mirror = {view.ledger_id: view.open_amount for view in store.invoices("bench", "open")}
        ledger = {i: Decimal(str(sim.outstanding(i)["outstandingAmount"])) for i in sim.outstanding_ids()}  # type: ignore[index]
        print(f"\nmirror matches the ledger: {mirror == ledger} ({len(mirror)} open invoices)")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
        store.close()


def _route(method: str, path: str) -> str:
    parts = ["{id}" if part.isdigit() else part for part in path.split("/")[2:]]
    return f"{method} {'/'.join(parts)}"


def _print(calls: Counter[str]) -> None:
    for route, count in sorted(calls.items()):
        print(f"    {count:5d}  {route}")


def _day_of_events(sim: EboekhoudenSimulator, steps: int, dice: random.Random) -> dict[int, list[tuple[str, str]]]:
    """What happens in the ledger over a day, spread over the passes."""
    ids = sim.outstanding_ids()
    dice.shuffle(ids)
    relations = sim.relation_ids()
    plan: list[tuple[str, str]] = []
    plan += [("paid", i) for i in ids[:200]]
    plan += [("part", i) for i in ids[200:300]]
    plan += [("deleted", i) for i in ids[300:305]]
    plan += [("new", dice.choice(relations)) for _ in range(80)]
    plan += [("booked", dice.choice(relations)) for _ in range(20)]
    plan += [("email", r) for r in dice.sample(relations, 50)]
    events: dict[int, list[tuple[str, str]]] = {}
    for item in plan:
        events.setdefault(dice.randrange(steps), []).append(item)
    return events


def _apply(sim: EboekhoudenSimulator, kind: str, target: str) -> None:
    if kind == "paid":
        sim.add_payment(target)
    elif kind == "part":
        row = sim.outstanding(target)
        if row is not None:
            sim.add_payment(target, (Decimal(str(row["outstandingAmount"])) / 2).quantize(Decimal("0.01")))
    elif kind == "deleted":
        sim.delete_mutation(target)
    elif kind in ("new", "booked"):
        sim.add_invoice(target, Decimal("242.00"), term_of_payment=14, with_invoice_record=kind == "new")
    elif kind == "email":
        sim.update_relation(target, emailAddressReminder=f"nieuw-{target}@example.nl")


if __name__ == "__main__":
    main()
