"""Benchmark: the cockpit's overview and an administration's dashboard for an office with 1,000 administrations
of 200 open invoices each (200,000 invoices), as a signed-in person's browser asks for them.

python benchmarks/bench_cockpit.py [--administrations 1000] [--invoices 200] [--database-url URL] [--rounds 15]

Prints the median and slowest time per page, server side (the request through Starlette, the queries and the
template), and the number of SQL statements each page ran.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.store import Store
from connector.store.models import Action, Contact, DailyFigure, Invoice
from connector.store.overview import OverviewStore
from connector.store.users import UserStore
from connector.web.app import Site, create_app
from connector.web.health import HealthEndpoints

TODAY = date(2026, 11, 24)
PASSWORD = "benchmark password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--administrations", type=int, default=1000)
    parser.add_argument("--invoices", type=int, default=200, help="open invoices per administration")
    parser.add_argument("--contacts", type=int, default=50, help="customers per administration")
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'cockpit.db'}"
        clock = ManualClock(datetime(2026, 11, 24, 10, tzinfo=UTC))
        store = Store.open(url, clock)
        names = [f"klant-{n:04d}" for n in range(args.administrations)]
        started = time.perf_counter()
        _load(store, names, args.invoices, args.contacts)
        print(
            f"loaded {len(names)} administrations x {args.invoices} open invoices "
            f"({len(names) * args.invoices:,} invoices) in {time.perf_counter() - started:.1f} s"
        )
        raw: dict[str, Any] = {
            "connector": {"database_url": url},
            "administrations": [
                {"name": name, "platform": "moneybird", "administration_id": str(10**17 + n), "token": "${T}"}
                for n, name in enumerate(names)
            ],
        }
        settings = settings_from_dict(raw, environ={"T": "t" * 20})
        UserStore(store).add("anna", "viewer", by="benchmark", password=PASSWORD)
        health = HealthEndpoints(lambda: (True, {}), lambda: (True, {}), _registry(), lambda: {})
        app = create_app(Site(settings, store, clock), health)
        statements = _counter(store)
        with TestClient(app, base_url="https://cockpit.example") as client:
            form = client.get("/login").text
            csrf = form.split('name="csrf" value="')[1].split('"')[0]
            client.post("/login", data={"csrf": csrf, "username": "anna", "password": PASSWORD})
            pages = {
                "overview (page 1 of all, by attention)": "/",
                "overview sorted by overdue, filtered": "/?q=klant-0&sort=overdue&dir=desc",
                "dashboard of one administration": f"/a/{names[len(names) // 2]}",
                "attention queue of one administration": f"/a/{names[len(names) // 2]}/attention",
                "customers of one administration": f"/a/{names[len(names) // 2]}/customers",
            }
            with store.engine.begin() as connection:  # the figures of today, as after every administration's sync
                connection.execute(sa.delete(DailyFigure).where(DailyFigure.day == TODAY))  # type: ignore[arg-type]
            OverviewStore(store).record_day(TODAY)
            backend = url.split(":")[0].split("+")[0]
            print(f"{backend}, {args.rounds} rounds each (after one warm-up):")
            for label, path in pages.items():
                assert client.get(path).status_code == 200, path
                times = []
                for _ in range(args.rounds):
                    statements[0] = 0
                    begun = time.perf_counter()
                    answer = client.get(path)
                    times.append(time.perf_counter() - begun)
                    assert answer.status_code == 200
                print(
                    f"  {label:<42} median {statistics.median(times) * 1000:6.0f} ms, "
                    f"slowest {max(times) * 1000:6.0f} ms, {statements[0]} SQL statements, "
                    f"{len(answer.content) / 1024:.0f} KiB"
                )
            with store.engine.begin() as connection:  # before any administration synced today
                connection.execute(sa.delete(DailyFigure).where(DailyFigure.day == TODAY))  # type: ignore[arg-type]
            begun = time.perf_counter()
            assert client.get("/").status_code == 200
            cold = (time.perf_counter() - begun) * 1000
            print(f"  overview before any sync today (every invoice added up): {cold:.0f} ms")
        store.close()


def _load(store: Store, names: list[str], invoices: int, contacts: int) -> None:
    dice = random.Random(7)
    now = store.clock.now()
    ids = [store.ensure_administration(name, "moneybird") for name in names]
    with store.engine.begin() as connection:
        for administration_id in ids:
            connection.execute(
                sa.insert(Contact),
                [
                    {
                        "administration_id": administration_id,
                        "ledger_id": str(c),
                        "name": f"Klant {c}",
                        "email": f"klant{c}@example.nl",
                        "is_business": c % 3 == 0,
                        "raw": {},
                        "first_seen_at": now,
                        "last_seen_at": now,
                    }
                    for c in range(contacts)
                ],
            )
            rows = []
            for i in range(invoices):
                amount = Decimal(dice.randint(2500, 500_000)) / 100
                due = TODAY - timedelta(days=dice.randint(-30, 150))
                rows.append(
                    {
                        "administration_id": administration_id,
                        "ledger_id": str(10**17 + i),
                        "number": f"2026-{i:05d}",
                        "contact_ledger_id": str(i % contacts),
                        "invoice_date": due - timedelta(days=30),
                        "due_date": due,
                        "currency": "EUR",
                        "total": amount,
                        "open_amount": amount,
                        "status": "open",
                        "ledger_state": "late",
                        "raw": {},
                        "first_seen_at": now,
                        "last_seen_at": now,
                    }
                )
            connection.execute(sa.insert(Invoice), rows)
            connection.execute(
                sa.insert(Action),
                [
                    {
                        "administration_id": administration_id,
                        "key": f"{administration_id:08d}{n:024d}",
                        "stage": "reminder",
                        "stage_index": 1,
                        "action": "email",
                        "contact_ledger_id": str(n),
                        "planned_on": TODAY,
                        "planned": {},
                        "status": dice.choice(["done", "done", "done", "pending", "failed", "awaiting_approval"]),
                        "created_at": now,
                        "updated_at": now,
                        "outcome": {},
                    }
                    for n in range(20)
                ],
            )
            connection.execute(
                sa.insert(DailyFigure),
                [
                    {
                        "administration_id": administration_id,
                        "day": TODAY - timedelta(days=back),
                        "currency": "EUR",
                        "open_amount": Decimal(dice.randint(10_000, 60_000)),
                        "overdue_amount": Decimal(dice.randint(5_000, 30_000)),
                        "invoiced_90_days": Decimal(dice.randint(20_000, 90_000)),
                        "open_invoices": invoices,
                        "overdue_invoices": invoices // 2,
                        "recorded_at": now,
                    }
                    for back in range(181)  # today's too: the daemon keeps them after each sync
                ],
            )


def _registry() -> Any:
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


def _counter(store: Store) -> list[int]:
    count = [0]

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def counted(*_: Any) -> None:
        count[0] += 1

    return count


if __name__ == "__main__":
    main()
