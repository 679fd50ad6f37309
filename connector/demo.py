"""`connector demo`: the main job, `connector run`, on embedded defaults, with weeks played in a minute.

It starts the Moneybird simulator with two generated administrations, a local SMTP sink that keeps every
e-mail as an `.eml` file, and the daemon on SQLite under the demo folder. The daemon's clock runs fast, so
45 days of the reminder sequence play out in well under a minute; meanwhile some customers pay and one
disputes an invoice. At the end the connector's own records are checked against what the SMTP sink and the
ledger hold, and a summary is printed and written to `summary.json`.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any, TextIO

from connector.clock import AMSTERDAM, Clock, SystemClock, business_date, pause
from connector.config import Settings, load_settings
from connector.daemon import Daemon
from connector.dispatch.mailsink import MailSink
from connector.ledger import registry
from connector.log import configure_logging
from connector.store import Store
from connector.store.approvals import ApprovalStore
from connector.store.outbox import AWAITING_APPROVAL, OutboxStore
from connector.store.overview import OverviewStore
from connector.store.users import UserStore
from connector.store.workflow import WorkflowStore
from connector.workflow.calendar import BusinessCalendar

NAMES = ("bakkerij", "installatie")
CONFIG = """\
# Written by `connector demo`. The simulator and the SMTP sink it points at only run during the demo.
[connector]
database_url = "sqlite:///{database}"
log_level = "warning"
health_port = {health_port}
handover_dir = "{handover}"

[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "debiteuren@simulatie.example"
from_name = "Debiteurenbeheer"
{administrations}"""
ADMINISTRATION = """
[[administrations]]
name = "{name}"
platform = "moneybird"
base_url = "{base_url}"
administration_id = "{administration_id}"
token = "${{DEMO_MONEYBIRD_TOKEN}}"
# Business time: every 6 hours (the demo's clock runs fast; a real deployment keeps the default).
sync_interval_seconds = 21600
# The simulator allows the demo far more calls than Moneybird's 150 per 5 minutes.
rate_limit = {{ requests = 100000, per_seconds = 300 }}

[administrations.company]
name = "{company}"
kvk = "{kvk}"
address = "Simulatieweg 1, 3511 AB Utrecht"
statutory_seat = "Utrecht"
email = "debiteuren@simulatie.example"
iban = "NL91ABNA0417164300"
"""


@dataclass
class DemoSummary:
    days: int
    seconds: float
    administrations: list[str]
    invoices_mirrored: int = 0
    open_at_start: int = 0
    open_at_end: int = 0
    paid_during_run: int = 0
    disputed: list[str] = field(default_factory=list)
    actions_by_stage: dict[str, int] = field(default_factory=dict)
    dropped_at_recheck: int = 0
    needing_attention: int = 0
    awaiting_approval: dict[str, int] = field(default_factory=dict)  # stage -> actions waiting for a person
    emails_sent: int = 0
    notes_written: int = 0
    handover_files: int = 0
    # What the SMTP sink and the ledger hold, counted independently of the connector's records.
    emails_in_sink: int = 0
    notes_in_ledger: int = 0
    payments_in_ledger: int = 0

    @property
    def consistent(self) -> bool:
        return (
            self.emails_sent == self.emails_in_sink
            and self.notes_written == self.notes_in_ledger
            and self.paid_during_run == self.payments_in_ledger
        )


@dataclass
class _Story:
    """What the customers do while the demo runs: some pay (in the ledger), one disputes an invoice."""

    simulator: Any  # the Moneybird simulator
    start: date
    payments: list[tuple[int, str, str]]  # (day, administration id, invoice id), in order of day
    dispute_day: int = 6
    disputed: list[str] = field(default_factory=list)
    paid: int = 0

    def advance(self, today: date, daemon: Daemon, names: dict[str, str]) -> list[str]:
        day = (today - self.start).days
        events = []
        due = [payment for payment in self.payments if payment[0] <= day]
        # Only what the connector has mirrored gets paid: on a slow machine an administration's first sync may
        # come after the day a payment was planned for, and an invoice first seen paid is never mirrored.
        mirrored = {view.ledger_id for view in daemon.store.invoices(None, "all")} if due else set()
        for payment in due:
            _, administration_id, invoice_id = payment
            if invoice_id not in mirrored:
                continue  # paid a little later, once the connector knows it
            self.payments.remove(payment)
            invoice = self.simulator.get_invoice(administration_id, invoice_id)
            if invoice.get("state") == "paid":
                continue
            self.simulator.add_payment(administration_id, invoice_id, invoice["total_unpaid"], today.isoformat())
            self.paid += 1
            events.append(f"{names[administration_id]}: invoice {invoice['invoice_id']} paid")
        if day >= self.dispute_day and not self.disputed:
            events += self._dispute(daemon, today)
        return events

    def _dispute(self, daemon: Daemon, today: date) -> list[str]:
        """The first customer of the first administration who got a reminder e-mail disputes that invoice;
        a person pauses it, exactly as `connector pause INVOICE --reason dispute` does."""
        store = daemon.store
        administration_id = store.administration_id(NAMES[0])
        if administration_id is None:
            return []
        box = OutboxStore(store)
        open_numbers = {view.ledger_id: view.number for view in store.invoices(NAMES[0], "open")}
        for action in box.actions(administration_id, ["done"]):
            if action.stage != "reminder":
                continue
            for ledger_id in box.invoice_ids(action):
                if ledger_id in open_numbers:
                    WorkflowStore(store).hold(
                        administration_id,
                        ledger_id,
                        "dispute",
                        None,
                        "customer disputes the delivery (demo)",
                        by="demo credit controller",
                    )
                    number = open_numbers[ledger_id]
                    self.disputed.append(f"{NAMES[0]}/{number}")
                    return [f"{NAMES[0]}: customer disputes invoice {number}; reminders for it are paused"]
        return []


class OfficeHoursClock:
    """Business time from `start` over `days` days, played in about `seconds` of real time: the send window's
    hours (09:00-17:00 on send days) take most of the real time and nights, weekends and holidays pass quickly,
    so the demo sends at a pace a real day would allow and nothing goes out after hours.

    While messages wait to go out (`busy(True)`), office hours pass `BUSY_SLOWDOWN` times slower, so the daemon
    sends a day's messages within that day however slow the machine (a slow or busy machine takes longer over
    the demo; what happens in it stays the same).
    """

    OFFICE_SHARE = 0.75  # of the planned real time
    BUSY_SLOWDOWN = 40.0

    def __init__(self, start: datetime, *, days: int, seconds: float, calendar: BusinessCalendar | None = None):
        calendar = calendar or BusinessCalendar()
        self.start = start.astimezone(UTC)
        # (business start, business seconds, in office hours), day by day, and a spare week.
        self._pieces: list[tuple[datetime, float, bool]] = []
        day, cursor = start.astimezone(calendar.tz).date(), self.start
        while cursor < self.start + timedelta(days=days + 7):
            opens = datetime.combine(day, calendar.window_start, calendar.tz).astimezone(UTC)
            closes = datetime.combine(day, calendar.window_end, calendar.tz).astimezone(UTC)
            midnight = datetime.combine(day + timedelta(days=1), clock_time(0), calendar.tz).astimezone(UTC)
            bounds = [(opens, False), (closes, True), (midnight, False)] if calendar.is_send_day(day) else []
            for bound, in_office in [*bounds, (midnight, False)]:
                if bound > cursor:
                    self._pieces.append((cursor, (bound - cursor).total_seconds(), in_office))
                    cursor = bound
            day += timedelta(days=1)
        end = self.start + timedelta(days=days)
        hours = [min(length, max(0.0, (end - at).total_seconds())) for at, length, inside in self._pieces if inside]
        office = float(sum(hours))
        other = days * 86_400 - office
        self.office_factor = office / (seconds * self.OFFICE_SHARE) if office else days * 86_400 / seconds
        self.other_factor = other / (seconds * (1 - self.OFFICE_SHARE)) if office else self.office_factor
        self._lock = threading.Lock()
        self._real = time.monotonic()
        self._business = self.start
        self._index = 0  # the piece `_business` lies in
        self._busy = False

    def busy(self, waiting: bool) -> None:
        """Whether messages are waiting to go out now (the demo asks the outbox)."""
        with self._lock:
            self._step()
            self._busy = waiting

    def now(self) -> datetime:
        with self._lock:
            self._step()
            return self._business

    def _step(self) -> None:
        real = time.monotonic()
        elapsed, self._real = real - self._real, real
        while elapsed > 0:
            at, length, inside = self._pieces[self._index]
            slowed = inside and self._busy
            factor = (self.office_factor if inside else self.other_factor) / (self.BUSY_SLOWDOWN if slowed else 1)
            left = (at + timedelta(seconds=length) - self._business).total_seconds()
            last = self._index == len(self._pieces) - 1  # past the spare week: time just runs on
            spent = elapsed if last or elapsed * factor < left else left / factor
            self._business += timedelta(seconds=spent * factor)
            if spent < elapsed:
                self._index += 1
            elapsed -= spent


def run_demo(
    directory: Path,
    *,
    out: TextIO,
    days: int = 45,
    seconds: float = 35.0,
    invoices: int = 60,
    contacts: int = 24,
    health_port: int = 0,
    starting_from: Clock | None = None,
) -> DemoSummary:
    """Play `days` business days from today (`starting_from`'s date; the system clock's by default)."""

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    directory = _fresh(directory)
    configure_logging("warning")
    factor = days * 86_400 / seconds
    first_day = business_date(starting_from or SystemClock())
    start = datetime.combine(first_day, clock_time(7, 0), AMSTERDAM)
    clock = OfficeHoursClock(start, days=days, seconds=seconds)
    say(
        f"Demo: {days} days of the reminder workflow in about {seconds:.0f} seconds "
        f"(office hours at 1 second = {clock.office_factor / 3600:.1f} h, nights and weekends faster)."
    )
    simulator = _moneybird_simulator().generate(
        invoices=invoices,
        contacts=contacts,
        administrations=len(NAMES),
        seed=7,
        today=first_day,
        clock=clock,
        rate_limit=1_000_000,
    )
    sink = MailSink(directory / "mail")
    with simulator, sink:
        ids = simulator.administration_ids
        names = dict(zip(ids, NAMES, strict=True))
        config_path = directory / "config.toml"
        config_path.write_text(
            CONFIG.format(
                database=directory / "connector.db",
                health_port=health_port,
                handover=directory / "handover",
                smtp_port=sink.port,
                administrations="".join(
                    ADMINISTRATION.format(
                        name=name,
                        base_url=simulator.base_url,
                        administration_id=administration_id,
                        company=f"{name.capitalize()} Simulatie B.V.",
                        kvk=f"{90000001 + index:08d}",  # made up, as everything in the demo
                    )
                    for index, (administration_id, name) in enumerate(names.items())
                ),
            )
        )
        # A throwaway token for the local simulator, kept beside the demo config like a real .env.
        (directory / ".env").write_text(f"DEMO_MONEYBIRD_TOKEN=demo-{secrets.token_hex(8)}\n")
        # The demo's own files only: a CONNECTOR_DATABASE_URL in the shell must never get demo data in a real store.
        settings = load_settings(config_path, environ={}, env_file=None)
        notes_before = _ledger_notes(simulator)
        story = _Story(simulator, first_day, _payment_plan(simulator, days))
        _approve(settings, clock)
        daemon = Daemon(settings, clock=clock, time_scale=factor)
        wall_start = time.monotonic()
        daemon.start()
        say(f"Ledger simulator:  {simulator.base_url} ({len(ids)} administrations, {invoices} open invoices each)")
        say(f"SMTP sink:         127.0.0.1:{sink.port}, each e-mail saved in {_shown(directory / 'mail')}")
        if daemon.health is not None:
            password = secrets.token_urlsafe(12)
            UserStore(daemon.store).add("demo", "admin", by="connector demo", display_name="Demo", password=password)
            say(f"Status page:       {daemon.health.url}/status  (while the demo runs)")
            say(f"Cockpit:           {daemon.health.url}/  (sign in as demo, password {password})")
        say(
            f"Approved:          {', '.join(NAMES)} under policy 'default', by the demo on your behalf. On a real "
            "ledger nothing is sent until you have read `connector plan` and run `connector approve --admin NAME`."
        )
        say()
        end = start + timedelta(days=days)
        next_report = 0
        backlog = _Backlog(daemon)
        try:
            while clock.now() < end:
                today = business_date(clock)
                for event in story.advance(today, daemon, names):
                    say(f"  {today:%a %d %b}  {event}")
                day = (today - first_day).days
                if day >= next_report:
                    say(_progress(day, today, daemon, sink))
                    next_report += 5
                clock.busy(backlog.moving(clock.now()))
                pause(0.02)
            _catch_up(daemon, clock.now())
        finally:
            daemon.stop()
        elapsed = time.monotonic() - wall_start
        summary = _summarise(settings.connector.database_url, clock, days, elapsed)
        summary.disputed = story.disputed
        summary.emails_in_sink = len(list((directory / "mail").glob("*.eml")))
        summary.notes_in_ledger = _ledger_notes(simulator) - notes_before
        summary.payments_in_ledger = story.paid
        summary.handover_files = len(list((directory / "handover").glob("**/*.json")))
        _dump_ledger(simulator, directory / "ledger.json")
    (directory / "summary.json").write_text(json.dumps(asdict(summary) | {"consistent": summary.consistent}, indent=2))
    for line in _report(summary, directory, config_path):
        say(line)
    return summary


def _approve(settings: Settings, clock: Clock) -> None:
    """What a person does before going live, done by the demo for its own made-up administrations."""
    store = Store.open(settings.connector.database_url, clock)
    try:
        approvals = ApprovalStore(store)
        for administration in settings.enabled_administrations:
            approvals.approve_administration(
                administration, settings.policies, by="connector demo", note="the demo approves its own administrations"
            )
    finally:
        store.close()


def _fresh(directory: Path) -> Path:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("connector.db*"):
        stale.unlink()
    for name in ("mail", "handover"):
        shutil.rmtree(directory / name, ignore_errors=True)
    for name in ("summary.json", "ledger.json"):
        (directory / name).unlink(missing_ok=True)
    return directory


def _moneybird_simulator() -> Any:
    """The demo plays on Moneybird's simulator, named through the registry: the core imports no ledger."""
    server = registry.platform("moneybird").simulator_server
    assert server is not None
    return registry.load(server)


def _payment_plan(simulator: Any, days: int) -> list[tuple[int, str, str]]:
    """About one in five invoices gets paid on a day between the first and `days - 5` (so the last sync
    of the run sees every payment)."""
    chooser = random.Random(11)
    plan = []
    for administration_id in simulator.administration_ids:
        open_ids = sorted(
            invoice_id
            for state in ("open", "late", "reminded")
            for invoice_id in simulator.invoice_ids(administration_id, state)
        )
        for invoice_id in chooser.sample(open_ids, k=len(open_ids) // 5):
            plan.append((chooser.randint(1, days - 5), administration_id, invoice_id))
    return sorted(plan)


def _catch_up(daemon: Daemon, end: datetime, wait_seconds: float = 60.0) -> None:
    """Let every administration sync once more after the last day's payments, so the summary compares the ledger
    with a mirror that had the chance to see all of them (a machine that fell behind the demo's clock may not have
    synced since)."""
    overview = OverviewStore(daemon.store)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        syncs = overview.last_syncs()
        ids = [daemon.store.administration_id(name) for name in NAMES]
        if all(
            i is not None
            and (last := syncs.get(i)) is not None
            and last.run is not None
            and last.run.started_at >= end
            and last.run.outcome != "running"
            for i in ids
        ):
            return
        pause(0.1)


class _Backlog:
    """Messages due now that the daemon is getting out: the demo's clock slows down for them. Due messages
    that stay put for `STALLED_AFTER` real seconds (held back on purpose, or a channel down) do not."""

    STALLED_AFTER = 5.0

    def __init__(self, daemon: Daemon) -> None:
        self.box = OutboxStore(daemon.store)
        self.store = daemon.store
        self.administration_ids: dict[str, int] = {}
        self.due: set[int] = set()
        self.changed = time.monotonic()

    def moving(self, now: datetime) -> bool:
        for name in NAMES:
            if name not in self.administration_ids and (found := self.store.administration_id(name)) is not None:
                self.administration_ids[name] = found
        due = {
            action.id or 0
            for administration_id in self.administration_ids.values()
            for action in self.box.due(administration_id, now)
        }
        if due != self.due:
            self.due, self.changed = due, time.monotonic()
        return bool(due) and time.monotonic() - self.changed < self.STALLED_AFTER


def _progress(day: int, today: date, daemon: Daemon, sink: MailSink) -> str:
    store = daemon.store
    stages: Counter[str] = Counter()
    box = OutboxStore(store)
    for name in NAMES:
        administration_id = store.administration_id(name)
        if administration_id is not None:
            stages.update(a.stage for a in box.actions(administration_id, ["done"]))
    open_count = len(store.invoices(None, "open"))
    done = ", ".join(f"{stage} {count}" for stage, count in stages.items()) or "nothing yet"
    return f"day {day:>2} ({today:%a %d %b}): {open_count} open invoices; done: {done}; {len(sink.messages)} e-mails"


def _summarise(database_url: str, clock: Any, days: int, elapsed: float) -> DemoSummary:
    store = Store.open(database_url, clock)
    try:
        box = OutboxStore(store)
        summary = DemoSummary(days=days, seconds=round(elapsed, 1), administrations=list(NAMES))
        stages: Counter[str] = Counter()
        for name in NAMES:
            administration_id = store.administration_id(name)
            if administration_id is None:
                continue
            for action in box.actions(administration_id):
                if action.status == "done":
                    stages[action.stage] += 1
                    if action.action == "email":
                        summary.emails_sent += 1
                    summary.notes_written += sum(1 for note in (action.outcome.get("notes") or {}).values() if note)
                elif action.status == "dropped":
                    summary.dropped_at_recheck += 1
                elif action.status in ("review", "failed"):
                    summary.needing_attention += 1
                elif action.status == AWAITING_APPROVAL:
                    summary.awaiting_approval[action.stage] = summary.awaiting_approval.get(action.stage, 0) + 1
        everything = store.invoices(None, "all")
        summary.invoices_mirrored = len(everything)
        summary.open_at_end = sum(1 for v in everything if v.state == "open")
        summary.paid_during_run = sum(1 for v in everything if v.state == "paid")
        summary.open_at_start = summary.invoices_mirrored  # the ledger is asked for open invoices only
        summary.actions_by_stage = dict(stages)
        return summary
    finally:
        store.close()


def _ledger_notes(simulator: Any) -> int:
    return sum(
        len(simulator.get_invoice(administration_id, invoice_id).get("notes") or [])
        for administration_id in simulator.administration_ids
        for invoice_id in simulator.invoice_ids(administration_id)
    )


def _dump_ledger(simulator: Any, path: Path) -> None:
    """What the ledger holds at the end (invoice states, notes, payments), for anyone who wants to check."""
    ledger = {
        administration_id: [
            {
                key: invoice.get(key)
                for key in ("id", "invoice_id", "state", "total_unpaid", "notes", "payments", "contact_id")
            }
            for invoice_id in simulator.invoice_ids(administration_id)
            for invoice in [simulator.get_invoice(administration_id, invoice_id)]
        ]
        for administration_id in simulator.administration_ids
    }
    path.write_text(json.dumps(ledger, indent=1, default=str))


def _report(summary: DemoSummary, directory: Path, config_path: Path) -> list[str]:
    check = "yes" if summary.consistent else "NO - see summary.json"
    stages = "\n".join(f"    {stage:<18} {count:>4}" for stage, count in summary.actions_by_stage.items())
    return [
        "",
        f"Summary after {summary.days} days ({summary.seconds:.0f} s):",
        f"  invoices mirrored        {summary.invoices_mirrored:>4} ({summary.open_at_end} still open)",
        f"  paid during the run      {summary.paid_during_run:>4}",
        f"  disputed (paused)        {len(summary.disputed):>4} {' '.join(summary.disputed)}",
        "  actions done, by stage:",
        stages or "    none",
        f"  dropped at the re-check  {summary.dropped_at_recheck:>4} (paid or paused just before sending)",
        f"  e-mails sent             {summary.emails_sent:>4} ({summary.emails_in_sink} .eml files in the SMTP sink)",
        f"  notes written back       {summary.notes_written:>4} ({summary.notes_in_ledger} new notes in the ledger)",
        f"  handover case files      {summary.handover_files:>4}",
        *(
            f"  awaiting your approval   {count:>4} {stage} (a person decides: "
            f"`connector approve --all --stage {stage} --config {_shown(config_path)}`)"
            for stage, count in summary.awaiting_approval.items()
        ),
        f"  records match sink and ledger: {check}",
        "",
        "Where to look:",
        f"  e-mails:      {_shown(directory / 'mail')}/*.eml (open them in any mail program)",
        f"  case files:   {_shown(directory / 'handover')}/",
        f"  the store:    .venv/bin/connector outbox --config {_shown(config_path)}",
        f"                .venv/bin/connector invoices --config {_shown(config_path)} --state all",
        f"  summary:      {_shown(directory / 'summary.json')}; the ledger's final state: "
        f"{_shown(directory / 'ledger.json')}",
        "Run it for real: cp config.example.toml config.toml, fill in your ledger, read `connector plan`, then "
        "`connector approve --admin NAME` and `connector run`.",
    ]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
