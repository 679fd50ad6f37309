"""Benchmark: mirroring a large Moneybird administration, first and incremental sync.

Runs the built-in simulator in a separate process (so the figures are the connector's own), then measures
in this process: API calls used against the minimum the platform allows, wall and CPU time, peak memory.

    python benchmarks/bench_moneybird_sync.py [--invoices 10000] [--contacts 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from connector.clock import SystemClock
from connector.config import settings_from_dict
from connector.ledger.registry import create_adapter
from connector.log import configure_logging
from connector.store import Store
from connector.sync import SyncReport, sync_administration

TOKEN = "benchmark-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction changed for the incremental sync")
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    configure_logging("warning")

    with tempfile.TemporaryDirectory() as tmp, Simulator(args.invoices, args.contacts) as sim:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = settings_from_dict(
            {
                "connector": {"database_url": database_url},
                "administrations": [
                    {
                        "name": "bench",
                        "platform": "moneybird",
                        "base_url": sim.base_url,
                        "administration_id": sim.administration_id,
                        "token": "${BENCH_TOKEN}",
                    }
                ],
            },
            environ={"BENCH_TOKEN": TOKEN},
        )
        admin = settings.administration("bench")
        clock = SystemClock()
        store = Store.open(database_url, clock)
        backend = store.engine.url.get_backend_name()
        print(f"Moneybird simulator: {args.invoices} open invoices, {args.contacts} contacts; store: {backend}")
        print()
        rows = []

        def measure(label: str, minimum: dict[str, int], prepare: Callable[[], None] | None = None) -> SyncReport:
            if prepare:
                prepare()
            sim.clear_log()
            with create_adapter(admin, clock) as adapter:
                wall, cpu = time.perf_counter(), time.process_time()
                report = sync_administration(store, adapter, name="bench", ledger_reference="", clock=clock)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert report.ok, report.error
            served = sim.log()
            rows.append((label, report, minimum, wall, cpu, peak_rss_mb(), served))
            return report

        fetches = math.ceil(args.invoices / 100)
        measure("first sync", {"invoice list": 1, "invoice fetch": fetches, "contact list": 1, "contact fetch": 0})
        measure("nothing changed", {"invoice list": 1, "invoice fetch": 0, "contact list": 1, "contact fetch": 0})
        changed = max(1, int(args.invoices * args.changed))
        paid_ids = sim.invoice_ids()[:changed]
        measure(
            f"{changed} paid in full",
            {"invoice list": 1, "invoice fetch": math.ceil(changed / 100), "contact list": 1, "contact fetch": 0},
            prepare=lambda: sim.pay(paid_ids, full=True),
        )
        part_ids = sim.invoice_ids()[changed : 2 * changed]
        measure(
            f"{changed} paid in part",
            {"invoice list": 1, "invoice fetch": math.ceil(changed / 100), "contact list": 1, "contact fetch": 0},
            prepare=lambda: sim.pay(part_ids, full=False),
        )
        closed = [v for v in store.invoices("bench", "closed") if v.ledger_id in set(paid_ids)]
        store.close()

    print(f"{'scenario':<18} {'API calls (used/minimum)':<44} {'served':>6} {'wall s':>7} {'cpu s':>6} {'peak MB':>8}")
    for label, report, minimum, wall, cpu, rss, served in rows:
        used = {
            "invoice list": report.api_calls_by_endpoint.get("sales_invoices.synchronization.list", 0),
            "invoice fetch": report.api_calls_by_endpoint.get("sales_invoices.synchronization.fetch", 0),
            "contact list": report.api_calls_by_endpoint.get("contacts.synchronization.list", 0),
            "contact fetch": report.api_calls_by_endpoint.get("contacts.synchronization.fetch", 0),
        }
        detail = " ".join(f"{used[k]}/{minimum[k]}" for k in used)
        total = f"{report.api_calls}/{sum(minimum.values())} ({detail})"
        print(f"{label:<18} {total:<44} {served:>6} {wall:>7.2f} {cpu:>6.2f} {rss:>8.1f}")
    print()
    print("API calls columns: invoice list, invoice fetch, contact list, contact fetch. 'served': requests the")
    print("simulator logged for the sync. Moneybird allows 150 requests per 5 minutes per token.")
    print(
        f"Invoices paid in full and closed as 'paid' in the mirror: {sum(v.state == 'paid' for v in closed)}/{changed}"
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Simulator:
    """`connector simulate moneybird` in a child process, reached over HTTP like the real thing."""

    def __init__(self, invoices: int, contacts: int) -> None:
        self.command = [
            sys.executable,
            "-m",
            "connector",
            "simulate",
            "moneybird",
            "--generate",
            str(invoices),
            "--contacts",
            str(contacts),
        ]

    def __enter__(self) -> Simulator:
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()
        if not first.startswith("listening on "):
            raise SystemExit(f"the simulator did not start: {first!r}")
        self.base_url = first.removeprefix("listening on ")
        self.root = self.base_url.removesuffix("/api/v2")
        self.payers = 0
        # A person's own token, so registering payments does not count against the connector's budget.
        self.http = httpx.Client(headers={"Authorization": "Bearer someone-else"}, timeout=30)
        self.administration_id = str(self.http.get(f"{self.base_url}/administrations.json").json()[0]["id"])
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=10)

    def clear_log(self) -> None:
        self.http.delete(f"{self.root}/_simulator/requests")

    def log(self) -> int:
        return len(self.http.get(f"{self.root}/_simulator/requests").json())

    def invoice_ids(self) -> list[str]:
        url = f"{self.base_url}/{self.administration_id}/sales_invoices/synchronization.json"
        return sorted(str(item["id"]) for item in self.http.get(url).json())

    def pay(self, ids: list[str], *, full: bool) -> None:
        """Register payments as a bookkeeper would: with a token of their own (Moneybird counts per token)."""
        self.payers += 1
        headers = {"Authorization": f"Bearer bookkeeper-{self.payers}"}
        root = f"{self.base_url}/{self.administration_id}/sales_invoices"
        unpaid: dict[str, Any] = {}
        for start in range(0, len(ids), 100):
            fetched = self.http.post(
                f"{root}/synchronization.json", json={"ids": ids[start : start + 100]}, headers=headers
            )
            unpaid.update({str(item["id"]): item["total_unpaid"] for item in fetched.raise_for_status().json()})
        for ledger_id in ids:
            payment = {
                "payment": {"payment_date": date.today().isoformat(), "price": unpaid[ledger_id] if full else "1.00"}
            }
            self.http.post(f"{root}/{ledger_id}/payments.json", json=payment, headers=headers).raise_for_status()


if __name__ == "__main__":
    main()
