"""`connector demo`: the main job on embedded defaults — the built-in Moneybird simulator and SQLite.

It generates an administration, mirrors it, shows what is owed, lets a few customers pay, and syncs again
to show that only the changes cost API calls. Everything stays on this machine.
"""

from __future__ import annotations

import random
import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from adapters.moneybird.simulator import MoneybirdSimulator
from adapters.registry import create_adapter
from connector.clock import SystemClock, business_date
from connector.config import load_settings
from connector.domain import format_amount
from connector.log import configure_logging
from connector.reports import ageing
from connector.store import Store
from connector.sync import SyncReport, sync_administration

CONFIG = """\
# Written by `connector demo`. The simulator it points at only runs during the demo.
[connector]
database_url = "sqlite:///{database}"
log_level = "warning"

[[administrations]]
name = "demo"
platform = "moneybird"
base_url = "{base_url}"
administration_id = "{administration_id}"
token = "${{DEMO_MONEYBIRD_TOKEN}}"
"""


def run_demo(directory: Path, *, invoices: int, contacts: int, out: TextIO) -> None:
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("connector.db*"):
        stale.unlink()
    configure_logging("warning")
    clock = SystemClock()

    say(f"Generating a Moneybird administration with {invoices} open invoices over {contacts} customers...")
    with MoneybirdSimulator.generate(invoices=invoices, contacts=contacts, seed=7) as simulator:
        administration_id = simulator.administration_ids[0]
        config_path = directory / "config.toml"
        config_path.write_text(
            CONFIG.format(
                database=directory / "connector.db",
                base_url=simulator.base_url,
                administration_id=administration_id,
            )
        )
        # A throwaway token for the local simulator, kept beside the demo config like a real .env.
        (directory / ".env").write_text(f"DEMO_MONEYBIRD_TOKEN=demo-{secrets.token_hex(8)}\n")
        settings = load_settings(config_path, env_file=None)
        admin = settings.administration("demo")
        say(f"Simulator listening on {simulator.base_url} (a real HTTP server shaped like Moneybird's API)")
        say(f"Store: {directory / 'connector.db'}")
        say()

        store = Store.open(settings.connector.database_url, clock)
        try:
            first = _sync(store, admin, clock)
            say(f"First sync:  {_line(first)}")
            views = store.invoices("demo")
            today = business_date(clock, settings.connector.zone)
            total = sum((v.open_amount for v in views), Decimal(0))
            say(f"Mirrored {len(views)} open invoices, EUR {format_amount(total)} outstanding:")
            for bucket in ageing(views, today):
                say(f"  {bucket.label:<12} {bucket.count:>5} invoices   EUR {format_amount(bucket.amount):>14}")
            say()
            say("Most overdue:")
            for view in views[:8]:
                days = (today - view.due_date).days
                say(
                    f"  {view.number:<11} {(view.contact_name or view.contact_id)[:34]:<34} "
                    f"due {view.due_date} ({days:>3} days late)  EUR {format_amount(view.open_amount):>10}"
                )
            say()

            chooser = random.Random(11)
            paid = chooser.sample(views, k=min(5, len(views)))
            for view in paid:
                simulator.add_payment(administration_id, view.ledger_id, view.open_amount)
            say(f"Meanwhile {len(paid)} customers pay in full (registered in the ledger through its payments API).")
            time.sleep(0.2)
            second = _sync(store, admin, clock)
            say(f"Next sync:   {_line(second)}")
            closed = {v.ledger_id: v for v in store.invoices("demo", "closed")}
            for view in paid:
                state = closed[view.ledger_id].state if view.ledger_id in closed else "still open?!"
                say(f"  {view.number:<11} {(view.contact_name or '')[:34]:<34} -> {state}")
        finally:
            store.close()
    say()
    say("Look around (the store stays; the simulator has stopped):")
    say(f"  .venv/bin/connector invoices --config {_shown(config_path)}")
    say(f"  .venv/bin/connector invoices --config {_shown(config_path)} --state closed --json")
    say("Point a config of your own at Moneybird: cp config.example.toml config.toml && connector check-config")


def _sync(store: Store, admin: object, clock: SystemClock) -> SyncReport:
    with create_adapter(admin, clock) as adapter:
        return sync_administration(
            store, adapter, name="demo", ledger_reference=getattr(admin, "ledger_reference", ""), clock=clock
        )


def _line(report: SyncReport) -> str:
    calls = ", ".join(f"{count} {endpoint}" for endpoint, count in sorted(report.api_calls_by_endpoint.items()))
    text = (
        f"{report.outcome} in {report.seconds:.2f}s: {report.invoices_upserted} invoices stored, "
        f"{report.invoices_closed} closed, {report.contacts_upserted} customers; "
        f"{report.api_calls} API calls ({calls or 'none'})"
    )
    return text + (f"\n  error: {report.error}" if report.error else "")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
