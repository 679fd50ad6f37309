"""The `connector` command."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from connector import decisions, terminal
from connector.administration import Company
from connector.clock import Clock, SystemClock, business_date
from connector.config import ConfigError, Settings, display_database_url, load_settings
from connector.dispatch.dispatcher import Dispatcher, DispatchReport
from connector.dispatch.letters import LetterError, logo_data_uri
from connector.dispatch.messages import MessageRenderer
from connector.domain import format_amount
from connector.ledger import registry
from connector.ledger.port import Capability, LedgerError, NotSupported
from connector.ledger.registry import PlatformNotAvailable, create_adapter, end_sessions
from connector.log import configure_logging
from connector.store import Store
from connector.store.approvals import ApprovalStore, awaiting_approval_reason
from connector.store.channels import CHANNEL_NAMES
from connector.store.leases import LeaseStore
from connector.store.outbox import AWAITING_APPROVAL, OutboxStore
from connector.store.overview import OverviewStore
from connector.store.tokens import TokenVault
from connector.store.workflow import HOLD_REASONS, WorkflowStore
from connector.sync import SyncReport, sync_administration

app = typer.Typer(
    help="Credit-management connector for Dutch bookkeeping ledgers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The local store.", no_args_is_help=True)
simulate_app = typer.Typer(help="Run a ledger simulator on 127.0.0.1 (for tests, benchmarks and trying things).")
app.add_typer(db_app, name="db")
app.add_typer(simulate_app, name="simulate")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration file (default: $CONNECTOR_CONFIG or config.toml)."),
]
AdminOption = Annotated[str | None, typer.Option("--admin", help="Only this administration (its name).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DateOption = Annotated[str | None, typer.Option("--date", help="Plan as of this business date (YYYY-MM-DD).")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides, for the audit log (default: your login).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why, for the audit log.")]

EXIT_CONFIG = 2


@dataclass(frozen=True)
class CommandContext:
    """What every command takes from outside instead of reaching for it: the business clock.

    `connector` runs on the system clock; a caller that drives the commands in-process (the tests, a program
    embedding them) passes its own: `CliRunner().invoke(app, args, obj=CommandContext(clock=...))`.
    """

    clock: Clock = field(default_factory=SystemClock)
    operator: str | None = None  # who is at the keyboard, for the audit log (default: the logged-in user)


_command_context: ContextVar[CommandContext | None] = ContextVar("command_context", default=None)


@app.callback()
def _take_context(context: typer.Context) -> None:
    """Credit-management connector for Dutch bookkeeping ledgers."""
    given = context.obj if isinstance(context.obj, CommandContext) else CommandContext()
    _command_context.set(given)


def _clock() -> Clock:
    context = _command_context.get()
    return context.clock if context is not None else SystemClock()


def _operator(given: str | None) -> str:
    """Who decides, for the audit log: --by, else the caller's, else the logged-in user."""
    context = _command_context.get()
    who = given or (context.operator if context is not None else None)
    if not who:
        try:
            who = getpass.getuser()
        except (OSError, KeyError):
            who = ""
    if not who.strip():
        typer.echo("--by: say who decides (a name for the audit log)", err=True)
        raise typer.Exit(EXIT_CONFIG)
    return who.strip()


def main() -> None:
    try:
        app()
    finally:
        end_sessions()  # a one-shot command leaves no ledger session open behind it


def _settings(path: Path | None) -> Settings:
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in the configuration.", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    configure_logging(settings.connector.log_level, settings.connector.log_format)
    return settings


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings.connector.database_url, _clock())
    try:
        yield store
    finally:
        store.close()


def _selected(settings: Settings, admin: str | None) -> list[Any]:
    if admin is None:
        return list(settings.enabled_administrations)
    try:
        return [settings.administration(admin)]
    except KeyError as exc:
        typer.echo(str(exc.args[0]), err=True)
        raise typer.Exit(EXIT_CONFIG) from None


@app.command("check-config")
def check_config(config: ConfigOption = None) -> None:
    """Validate the configuration; print every problem with its key, or a summary per administration."""
    settings = _settings(config)
    renderer = MessageRenderer(Path(settings.connector.templates_dir) if settings.connector.templates_dir else None)
    missing = [
        f"policies.{name}.stages.{stage.name}: no template {problem}"
        for name, policy in settings.policies.items()
        for stage in policy.stages
        for problem in renderer.missing(stage.template_name)
    ]
    missing += _sender_problems(settings)
    missing += _paper_problems(settings)
    if missing:
        for problem in missing:
            typer.echo(problem, err=True)
        typer.echo(f"{len(missing)} problem(s) in the configuration.", err=True)
        raise typer.Exit(EXIT_CONFIG)
    for warning in _two_reminder_streams(settings):
        typer.echo(f"warning: {warning}", err=True)
    # stdout: exactly one line per administration, for scripts; the rest is for the person, on stderr.
    typer.echo(f"{settings.source}: OK, database {display_database_url(settings.connector.database_url)}", err=True)
    for admin in settings.administrations:
        typer.echo(admin.summary())
    if not settings.administrations:
        typer.echo("no administrations configured", err=True)


def _sender_problems(settings: Settings) -> list[str]:
    """Every enabled administration's messages must name their sender as the law wants, before any goes out;
    where its ledger keeps those details, the first problem says how to read them from there."""
    found = []
    for index, administration in enumerate(settings.administrations):
        problems = administration.sender_problems() if administration.enabled else []
        if problems and _ledger_can(administration.platform, Capability.SENDER_DETAILS):
            problems[0] += f" (`connector sender --admin {administration.name}` reads them from the ledger)"
        found += [f"administrations[{index}].{problem}" for problem in problems]
    return found


def _paper_problems(settings: Settings) -> list[str]:
    """What a printed letter needs: a readable logo, and a post service for a stage that sends by post."""
    found = []
    for index, administration in enumerate(settings.administrations):
        logo = administration.company.logo if administration.company else None
        if administration.enabled and logo:
            try:
                logo_data_uri(logo)
            except LetterError as exc:
                found.append(f"administrations[{index}].{exc}")
    if settings.post is None:
        found += [
            f'policies.{name}.stages.{stage.name}.action: "post" needs a [post] section (a print service or a '
            "print batch folder)"
            for name, policy in settings.policies.items()
            for stage in policy.stages
            if stage.action == "post"
        ]
    return found


def _two_reminder_streams(settings: Settings) -> list[str]:
    """Where a customer may get the ledger's own reminders beside ours, with other deadlines."""
    warnings = []
    for index, administration in enumerate(settings.administrations):
        can_pause = _ledger_can(administration.platform, Capability.PAUSE_LEDGER_REMINDERS)
        if not administration.enabled or can_pause is None:
            continue
        key = f"administrations[{index}].pause_ledger_reminders"
        if not administration.pause_ledger_reminders:
            warnings.append(
                f"{key} = false: the ledger's own reminders go on beside this connector's, so customers may get "
                "two reminder streams with different deadlines"
            )
        elif not can_pause:
            warnings.append(
                f"{key}: {administration.platform} cannot be told to pause its own reminders; switch them off in "
                "the ledger, or customers may get two reminder streams with different deadlines"
            )
    return warnings


def _ledger_can(platform: str, capability: Capability) -> bool | None:
    """Whether the platform's adapter offers it; None when this version has no adapter for the platform."""
    try:
        return capability in registry.platform(platform).capabilities
    except PlatformNotAvailable:
        return None


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or upgrade the store's schema to the latest version."""
    settings = _settings(config)
    with _store(settings):
        typer.echo(f"store is up to date: {display_database_url(settings.connector.database_url)}")


@app.command()
def sync(config: ConfigOption = None, admin: AdminOption = None, as_json: JsonOption = False) -> None:
    """Run one mirror pass for every enabled administration (or the one named)."""
    settings = _settings(config)
    clock = _clock()
    reports: list[SyncReport] = []
    with _store(settings) as store, terminal.progress() as display:
        for administration in _selected(settings, admin):
            try:
                adapter = create_adapter(administration, clock, tokens=TokenVault.for_settings(store, settings))
            except PlatformNotAvailable as exc:
                report = SyncReport(administration=administration.name, outcome="failed", error=str(exc))
            else:
                show = terminal.line(display, f"{administration.name}: syncing")
                with adapter:
                    report = sync_administration(
                        store,
                        adapter,
                        name=administration.name,
                        ledger_reference=administration.ledger_reference,
                        clock=clock,
                        progress=_sync_progress(show),
                    )
            reports.append(report)
    if as_json:
        typer.echo(json.dumps([report.to_json() for report in reports], indent=2))
    else:
        for report in reports:
            typer.echo(_describe_report(report))
    if not all(report.ok for report in reports):
        raise typer.Exit(1)


def _sync_progress(show: terminal.Line) -> Callable[[SyncReport], None]:
    def shown(r: SyncReport) -> None:
        show(f"{r.administration}: {r.invoices_upserted} invoices, {r.contacts_upserted} contacts, {r.api_calls} calls")

    return shown


def _dispatch_progress(show: terminal.Line) -> Callable[[DispatchReport, int, int], None]:
    def shown(r: DispatchReport, done: int, due: int) -> None:
        waiting = r.retried + r.held_for_channel
        show(f"{r.administration}: {r.executed} sent, {waiting} to wait, {r.failed} failed", done=done, total=due)

    return shown


def _describe_report(report: SyncReport) -> str:
    line = (
        f"{report.administration}: {report.outcome} in {report.seconds:.1f}s — "
        f"{report.invoices_upserted} invoices stored, {report.invoices_closed} closed, "
        f"{report.contacts_upserted} contacts, {report.quarantined} quarantined, {report.api_calls} API calls"
    )
    return f"{line}\n  error: {report.error}" if report.error else line


@app.command()
def run(
    config: ConfigOption = None,
    on_config_error: Annotated[
        str,
        typer.Option(
            "--on-config-error",
            envvar="CONNECTOR_ON_CONFIG_ERROR",
            help="exit (exit 2) or wait: print the problems once and wait for SIGTERM, so a service manager that "
            "restarts on any exit (a container's restart policy) does not restart in a loop.",
        ),
    ] = "exit",
) -> None:
    """Run unattended: sync every administration on its interval, send what is due inside the send window,
    serve /healthz, /readyz, /metrics and /status. Stops cleanly on SIGTERM or Ctrl-C."""
    from connector.daemon import Daemon
    from connector.store.db import StoreInUse

    if on_config_error not in ("exit", "wait"):
        typer.echo(f"--on-config-error: expected exit or wait, got {on_config_error!r}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    try:
        settings = _settings(config)
    except typer.Exit as exc:
        if exc.exit_code == EXIT_CONFIG and on_config_error == "wait":
            _wait_for_a_person()
        raise
    daemon = Daemon(settings, clock=_clock())
    try:
        clean = daemon.serve()
    except (OSError, StoreInUse) as exc:  # the health port is taken, another process has the SQLite store, ...
        typer.echo(f"cannot start: {exc}", err=True)
        raise typer.Exit(1) from None
    if not clean:
        # A cycle is stuck in a network call past the grace period. Leaving is safe: the outbox recovers
        # the action in hand on the next start, and a cut-off sync repeats from its last stored batch.
        sys.stderr.flush()
        os._exit(0)


def _wait_for_a_person() -> None:
    """Stay up, doing nothing, until stopped: the problems are in the log once, and the container shows as
    unhealthy instead of restarting with the same error every few seconds."""
    import signal

    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    typer.echo(
        "not starting: fix the configuration (config.toml, .env), then start again; waiting until stopped", err=True
    )
    while not stopped.wait(3600):
        pass


@app.command()
def auth(
    ledger: Annotated[str, typer.Argument(help="The ledger: its platform name (exact_online) or an alias (exact).")],
    admin: Annotated[str, typer.Option("--admin", help="The administration's name.")],
    config: ConfigOption = None,
    list_administrations: Annotated[
        bool,
        typer.Option(
            "--list-administrations",
            "--list-divisions",
            help="List what the stored tokens reach (Exact Online: divisions), then stop.",
        ),
    ] = False,
    refresh_token: Annotated[
        str | None,
        typer.Option("--refresh-token", help="Import a refresh token from another integration instead of consenting."),
    ] = None,
    code: Annotated[str | None, typer.Option("--code", help="An authorization code you already have.")] = None,
    paste: Annotated[
        bool, typer.Option("--paste", help="Paste the redirect address instead of receiving it on the redirect URI.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the redirect.")] = 300.0,
) -> None:
    """Consent once (or import a refresh token); the tokens are stored encrypted and kept fresh by the daemon."""
    from connector import consent

    settings = _settings(config)
    administration = _selected(settings, admin)[0]
    try:
        platform = registry.platform(ledger)
    except PlatformNotAvailable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if administration.platform != platform.name:
        typer.echo(f"{admin}: not a {platform.title} administration ({administration.platform})", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if platform.oauth is None:
        typer.echo(f"{platform.title} takes its credentials from the configuration: nothing to consent to", err=True)
        raise typer.Exit(EXIT_CONFIG)
    configured = platform.oauth.configured(administration) if platform.oauth.configured else None
    clock = _clock()
    with _store(settings) as store:
        vault = TokenVault.for_settings(store, settings)
        assert vault is not None  # check-config insists on the key for a ledger that keeps tokens
        try:
            if list_administrations:
                if platform.oauth.reachable is None:
                    typer.echo(f"{platform.title} cannot list what its tokens reach", err=True)
                    raise typer.Exit(EXIT_CONFIG)
                rows = platform.oauth.reachable(administration, vault, clock)
                for row in rows:
                    mark = "  <- configured" if row.code == configured else ""
                    typer.echo(f"{row.code}\t{row.description}{mark}")
                if configured is not None and not any(row.code == configured for row in rows):
                    typer.echo(f"{platform.oauth.reachable_kind} {configured} (configured) is not among them", err=True)
                    raise typer.Exit(1)
                return
            oauth = platform.oauth.client(administration, None)
            if refresh_token is not None:
                result = consent.import_refresh_token(settings, store, administration, vault, refresh_token, oauth)
                what = "refresh token imported and refreshed"
            else:
                grant = consent.consent_flow(
                    oauth,
                    ledger=platform.title,
                    code=code,
                    paste=paste,
                    prompt=lambda text: str(typer.prompt(text)),
                    say=typer.echo,
                    timeout=timeout,
                )
                result = consent.store_grant(settings, store, administration, vault, oauth, grant)
                what = "consent stored"
        except (consent.ConsentError, LedgerError) as exc:
            typer.echo(f"{admin}: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(
        f"{admin}: {what} for connection {result.status.connection!r} (chain {result.status.generation}); "
        f"{administration.ledger_reference} is used"
        + (f"; unparked {', '.join(result.unparked)}" if result.unparked else "")
    )


@app.command()
def sender(
    admin: Annotated[str, typer.Option("--admin", help="The administration's name.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read the administration's own details (name, KvK, VAT number, address, ...) from its ledger and print the
    `[administrations.company]` table to configure: what is configured, completed with what the ledger knows.
    Changes nothing; check each value before you paste it."""
    settings = _settings(config)
    (administration,) = _selected(settings, admin)
    with _store(settings) as store:
        try:
            adapter = create_adapter(administration, _clock(), tokens=TokenVault.for_settings(store, settings))
            with adapter:
                found = adapter.sender_details()
        except (PlatformNotAvailable, LedgerError) as exc:
            typer.echo(f"{administration.name}: could not read the sender details from the ledger: {exc}", err=True)
            if isinstance(exc, NotSupported):
                typer.echo("type them under [administrations.company] (see config.example.toml)", err=True)
            raise typer.Exit(1) from None
    values, notes = Company.proposed(administration.company, found)
    missing = Company.missing_in(values)
    if as_json:
        document = {
            "administration": administration.name,
            "source": found.source,
            "ledger": {k: v for k, v in dataclasses.asdict(found).items() if k != "source"},
            "company": values,
            "notes": notes,
            "missing": missing,
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    typer.echo(f"# {administration.name}: read from {found.source}; check each value before you paste it")
    for note in notes:
        typer.echo(f"# {note}")
    typer.echo("[administrations.company]")
    for key, value in values.items():
        typer.echo(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    for problem in missing:
        key, _, why = problem.partition(": missing: ")
        typer.echo(f'# {key} = "..."  # still to type: {why}')


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for CONNECTOR_SECRET_KEY (it encrypts the stored OAuth tokens; keep it safe)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@app.command()
def unpark(
    admin: Annotated[str, typer.Option("--admin", help="The administration's name.")],
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Let a parked administration (the ledger refused its credentials) be tried again on its next cycle."""
    settings = _settings(config)
    _selected(settings, admin)
    who = _operator(by)
    with _store(settings) as store:
        lifted = OverviewStore(store).unpark(admin, by=who)
    typer.echo(f"{admin}: {'unparked; tried again on its next cycle' if lifted else 'was not parked'}")


@app.command()
def invoices(
    config: ConfigOption = None,
    admin: AdminOption = None,
    state: Annotated[str, typer.Option(help="open, closed or all.")] = "open",
    as_json: JsonOption = False,
) -> None:
    """List the mirrored invoices."""
    if state not in ("open", "closed", "all"):
        typer.echo(f"--state: expected open, closed or all, got {state!r}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    settings = _settings(config)
    if admin is not None:
        _selected(settings, admin)
    with _store(settings) as store:
        rows = store.invoices(admin, state)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps([row.to_json() for row in rows], indent=2))
        return
    today = business_date(_clock(), settings.connector.zone)
    typer.echo(_invoice_table(rows, today))


def _invoice_table(rows: list[Any], today: Any) -> str:
    header = ("administration", "number", "customer", "due", "overdue", "open", "total", "state")
    lines = [header]
    for row in rows:
        overdue = (today - row.due_date).days
        lines.append(
            (
                row.administration,
                row.number or row.ledger_id,
                (row.contact_name or row.contact_id)[:32],
                row.due_date.isoformat(),
                f"{overdue}d" if overdue > 0 and row.state == "open" else "",
                f"{row.currency} {format_amount(row.open_amount)}",
                f"{row.currency} {format_amount(row.total)}",
                row.state if row.state == row.ledger_state else f"{row.state} ({row.ledger_state})",
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    right = {4, 5, 6}
    out = [
        "  ".join(
            str(cell).rjust(w) if i in right else str(cell).ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    out.append(f"{len(rows)} invoice(s)")
    return "\n".join(out)


@app.command()
def quarantine(config: ConfigOption = None, admin: AdminOption = None, as_json: JsonOption = False) -> None:
    """Records from the ledger that could not be mirrored, with the reason; fix them in the ledger."""
    settings = _settings(config)
    names = [a.name for a in _selected(settings, admin)] if admin else [a.name for a in settings.administrations]
    rows: list[dict[str, Any]] = []
    with _store(settings) as store:
        for name in names:
            administration_id = store.administration_id(name)
            for record in store.quarantined(administration_id) if administration_id is not None else []:
                rows.append(
                    {
                        "administration": name,
                        "entity": record.entity,
                        "ledger_id": record.ledger_id,
                        "reason": record.reason,
                        "first_seen_at": record.first_seen_at.isoformat(),
                        "last_seen_at": record.last_seen_at.isoformat(),
                    }
                )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['administration']} {row['entity']} {row['ledger_id']}: {row['reason']}")
    typer.echo(f"{len(rows)} record(s) in quarantine")


@app.command()
def plan(
    config: ConfigOption = None,
    admin: AdminOption = None,
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the reminder actions due; changes nothing."""
    settings = _settings(config)
    today = _parse_date(on) if on else business_date(_clock(), settings.connector.zone)
    named: list[tuple[Any, str | None, list[str]]] = []  # each action with its customer's name and invoice numbers
    waiting: dict[str, str] = {}  # administration -> why nothing goes out yet
    with _store(settings) as store:
        workflow = WorkflowStore(store)
        approvals = ApprovalStore(store)
        for administration in _selected(settings, admin):
            administration_id = store.administration_id(administration.name)
            if administration_id is None:
                continue  # never synced: nothing mirrored to plan from
            latest = approvals.latest(administration_id)
            fingerprint = settings.policy_for(administration).fingerprint()
            if latest is None or not latest.covers(administration.policy, fingerprint):
                waiting[administration.name] = awaiting_approval_reason(administration.name, administration.policy)
            found = workflow.due_actions(administration_id, administration, settings.policies, today, settings.rates)
            contacts, invoice_numbers = workflow.names(administration_id)
            named += [
                (action, contacts.get(action.contact_id), [invoice_numbers.get(i, i) for i in action.invoices])
                for action in found
            ]
    if as_json:
        rows = [
            {
                **action.to_json(),
                "contact_name": customer,
                "invoice_numbers": numbers,
                "administration_approved": action.administration not in waiting,
            }
            for action, customer, numbers in named
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    for name, reason in waiting.items():
        typer.echo(f"{name}: {reason}")
    for action, customer, numbers in named:
        approval = f"  [needs approval: {'; '.join(action.approval)}]" if action.approval else ""
        who = (customer or action.contact_id)[:32]
        typer.echo(
            f"{action.administration}  {action.stage:<18} {action.action:<15} {who:<32} "
            f"{', '.join(numbers)}  {action.currency} {format_amount(action.principal)}"
            f"  costs {format_amount(action.collection_costs)}  {action.reason}{approval}"
        )
    typer.echo(f"{len(named)} action(s) due on {today.isoformat()}")


@app.command()
def dispatch(
    config: ConfigOption = None,
    admin: AdminOption = None,
    on: DateOption = None,
    ignore_window: Annotated[
        bool, typer.Option("--ignore-window", help="Send now, even outside the send window (a person's decision).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Plan, then execute what is due (inside the send window), each action at most once; write back notes."""
    settings = _settings(config)
    clock = _clock()
    today = _parse_date(on) if on else None
    if today is not None and today > business_date(clock, settings.connector.zone):
        # Acting as of a later day would release stages (a handover, say) whose terms have not run out yet.
        typer.echo("--date: dispatch cannot act ahead of time; look ahead with `connector plan --date`", err=True)
        raise typer.Exit(EXIT_CONFIG)
    reports = []
    with _store(settings) as store, terminal.progress() as display:
        # Leases are kept in real time by whichever process holds them, whatever its business clock says.
        owners = LeaseStore(store, SystemClock()).live_owners()
        for administration in _selected(settings, admin):
            if administration.name in owners:
                # A running daemon dispatches it; a second dispatcher beside it would only get in its way.
                typer.echo(
                    f"{administration.name}: skipped, `connector run` ({owners[administration.name]}) is dispatching "
                    "it; its outbox shows what it does (`connector outbox`)",
                    err=True,
                )
                continue
            try:
                adapter = create_adapter(administration, clock, tokens=TokenVault.for_settings(store, settings))
            except PlatformNotAvailable as exc:
                typer.echo(f"{administration.name}: {exc}", err=True)
                continue
            with adapter:
                dispatcher = Dispatcher.for_settings(settings, store, adapter, administration, clock)
                show = terminal.line(display, f"{administration.name}: dispatching")
                dispatcher.progress = _dispatch_progress(show)
                reports.append(dispatcher.run(today, ignore_window=ignore_window))
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in reports], indent=2))
    else:
        for r in reports:
            typer.echo(
                f"{r.administration}: {r.planned} planned, {r.executed} executed, {r.dropped} dropped at the re-check, "
                f"{r.retried} to retry, {r.failed} failed, {r.review} to review, {r.notes_written} notes written"
            )
            for held_back in (r.sender_missing, r.awaiting_approval):
                if held_back is not None:
                    typer.echo(f"  {held_back}")
            if r.actions_awaiting_approval:
                typer.echo(
                    f"  {r.actions_awaiting_approval} action(s) await a person's approval "
                    "(`connector outbox --status awaiting_approval`, `connector approve KEY`)"
                )
            if r.window_opens_at is not None:
                opens = r.window_opens_at.astimezone(settings.connector.zone)
                typer.echo(f"  {r.waiting} due, waiting for the send window: it opens {opens:%a %d %b %H:%M}")
            for channel, error in sorted(r.channels_down.items()):
                typer.echo(f"  {CHANNEL_NAMES.get(channel, channel)} is down: {error}")
            if r.held_for_channel:
                typer.echo(
                    f"  {r.held_for_channel} action(s) wait for their channel to come back (their tries are kept; "
                    "the next run tries again)"
                )
            if r.ledger_unavailable is not None:
                typer.echo(f"  the ledger did not answer ({r.ledger_unavailable}): the rest waits for the next run")
            for problem in r.problems:
                typer.echo(f"  {problem}")
    if any(r.failed or r.review or r.channels_down or r.ledger_unavailable for r in reports):
        raise typer.Exit(1)


@app.command()
def outbox(
    config: ConfigOption = None,
    admin: AdminOption = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only this status (pending, awaiting_approval, review, failed, done, rejected, ...)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The actions in the outbox; `review` and `failed` ones wait for a person (see `resolve` and `retry`)."""
    settings = _settings(config)
    rows = []
    with _store(settings) as store:
        box = OutboxStore(store)
        for administration in _selected(settings, admin):
            administration_id = store.administration_id(administration.name)
            if administration_id is None:
                continue
            contacts, numbers = WorkflowStore(store).names(administration_id)
            for action in box.actions(administration_id, [status] if status else None):
                invoice_ids = box.invoice_ids(action)
                rows.append(
                    {
                        "administration": administration.name,
                        "key": action.key,
                        "stage": action.stage,
                        "action": action.action,
                        "contact_id": action.contact_ledger_id,
                        "contact_name": contacts.get(action.contact_ledger_id),
                        "invoices": invoice_ids,
                        "invoice_numbers": [numbers.get(i, i) for i in invoice_ids],
                        "status": action.status,
                        "attempts": action.attempts,
                        "error": action.error,
                        "updated_at": action.updated_at.isoformat(),
                    }
                )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        error = f"  {row['error']}" if row["error"] else ""
        customer = (row["contact_name"] or row["contact_id"])[:32]
        typer.echo(
            f"{row['key'][:12]}  {row['status']:<17} {row['stage']:<18} {customer:<32} "
            f"{', '.join(row['invoice_numbers'])}{error}"
        )
    typer.echo(f"{len(rows)} action(s)")


KeyArgument = Annotated[str, typer.Argument(help="The action's key (the first characters are enough).")]
KeysArgument = Annotated[
    list[str] | None, typer.Argument(help="Keys of actions awaiting approval (the first 6 characters are enough).")
]
AllOption = Annotated[bool, typer.Option("--all", help="Every action awaiting approval (of --admin, of --stage).")]
StageOption = Annotated[str | None, typer.Option("--stage", help="With --all: only actions at this stage.")]


@app.command()
def approve(
    keys: KeysArgument = None,
    admin: AdminOption = None,
    every: AllOption = False,
    stage: StageOption = None,
    by: ByOption = None,
    note: NoteOption = None,
    config: ConfigOption = None,
) -> None:
    """Let it go out. `--admin NAME` alone approves the administration under its policy (nothing is sent before
    that, nor after the policy changes); keys or `--all [--stage S]` approve actions the policy reserves for a
    person (by default the handover)."""
    settings = _settings(config)
    who = _operator(by)
    if not keys and not every:
        if admin is None or stage is not None:
            typer.echo("say what to approve: --admin NAME (the administration), action keys, or --all", err=True)
            raise typer.Exit(EXIT_CONFIG)
        _approve_administration(settings, admin, who, note)
        return
    _decide_actions(settings, keys or [], admin, every, stage, approve=True, by=who, note=note)


@app.command()
def reject(
    keys: KeysArgument = None,
    admin: AdminOption = None,
    every: AllOption = False,
    stage: StageOption = None,
    by: ByOption = None,
    note: NoteOption = None,
    config: ConfigOption = None,
) -> None:
    """Never send actions awaiting approval (keys, or `--all [--stage S]`); the invoices stay where they are
    until a person decides otherwise (pause, exclude, or a new action when the invoices change)."""
    settings = _settings(config)
    who = _operator(by)
    if not keys and not every:
        typer.echo("say what to reject: action keys, or --all", err=True)
        raise typer.Exit(EXIT_CONFIG)
    _decide_actions(settings, keys or [], admin, every, stage, approve=False, by=who, note=note)


def _approve_administration(settings: Settings, admin: str, who: str, note: str | None) -> None:
    (administration,) = _selected(settings, admin)
    today = business_date(_clock(), settings.connector.zone)
    with _store(settings) as store:
        went = decisions.approve_administration(store, settings, administration.name, today, by=who, note=note)
    approval = went.approval
    if not went.new:
        typer.echo(
            f"{admin}: already approved by {approval.approved_by} on {_local(settings, approval.approved_at)} "
            f"under policy {administration.policy!r}"
        )
        return
    plan_text = ", ".join(f"{stage} {count}" for stage, count in went.due_today.items()) or "nothing"
    typer.echo(
        f"{admin}: approved by {approval.approved_by} on {_local(settings, approval.approved_at)} under policy "
        f"{administration.policy!r}; due today: {plan_text}. It goes out on the next dispatch, inside the send window."
    )


def _decide_actions(
    settings: Settings,
    keys: list[str],
    admin: str | None,
    every: bool,
    stage: str | None,
    *,
    approve: bool,
    by: str,
    note: str | None,
) -> None:
    if keys and every:
        typer.echo("give action keys or --all, not both", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if stage is not None and not every:
        typer.echo("--stage goes with --all", err=True)
        raise typer.Exit(EXIT_CONFIG)
    with _store(settings) as store:
        approvals = ApprovalStore(store)
        if every:
            ids = [i for a in _selected(settings, admin) if (i := store.administration_id(a.name)) is not None]
            chosen = approvals.awaiting(ids, stage)
        else:
            chosen = [_one_action(OutboxStore(store), key, AWAITING_APPROVAL) for key in keys]
        decided = decisions.decide_actions(store, chosen, approve=approve, by=by, note=note)
    verb = "approved: goes out on the next dispatch, inside the send window" if approve else "rejected: never sent"
    for action in decided:
        typer.echo(f"{action.key[:12]}  {action.stage:<18} contact {action.contact_ledger_id}  {verb}")
    typer.echo(f"{len(decided)} action(s) {'approved' if approve else 'rejected'} by {by}")


def _local(settings: Settings, at: datetime) -> str:
    return f"{at.astimezone(settings.connector.zone):%Y-%m-%d %H:%M}"


@app.command()
def resolve(
    key: KeyArgument,
    sent: Annotated[bool, typer.Option("--sent/--not-sent", help="Whether it reached the customer.")],
    by: ByOption = None,
    note: NoteOption = None,
    config: ConfigOption = None,
) -> None:
    """Settle an action flagged for review: --sent (it went out; write back and go on) or --not-sent (send it)."""
    settings = _settings(config)
    who = _operator(by)
    with _store(settings) as store:
        action = _one_action(OutboxStore(store), key, "review")
        decisions.resolve_review(store, action, sent=sent, by=who, note=note)
    outcome = "sent; the notes follow on the next dispatch" if sent else "will be sent on the next dispatch"
    typer.echo(f"{action.key[:12]}: {outcome}")


@app.command()
def retry(
    keys: Annotated[
        list[str] | None, typer.Argument(help="Keys of failed actions (the first 6 characters are enough).")
    ] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed action (of --admin).")] = False,
    admin: AdminOption = None,
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Try failed actions again (after fixing what made them fail): by key, or --all-failed."""
    if bool(keys) == all_failed:
        typer.echo("give the keys of failed actions, or --all-failed", err=True)
        raise typer.Exit(EXIT_CONFIG)
    settings = _settings(config)
    who = _operator(by)
    with _store(settings) as store:
        box = OutboxStore(store)
        if all_failed:
            chosen = [
                action
                for administration in _selected(settings, admin)
                if (administration_id := store.administration_id(administration.name)) is not None
                for action in box.actions(administration_id, ["failed"])
            ]
        else:
            chosen = [_one_action(box, key, "failed") for key in keys or []]
        for action in decisions.retry_failed(store, chosen, by=who):
            typer.echo(f"{action.key[:12]}: will be tried again on the next dispatch")
    typer.echo(f"{len(chosen)} action(s) to try again")


def _one_action(box: OutboxStore, key: str, status: str | None) -> Any:
    """The one action a key (at least 6 characters) names, in `status` unless that is None; else exit 2."""
    found = box.find(key) if len(key) >= 6 else []
    if len(found) != 1:
        typer.echo(
            f"{'no' if not found else 'more than one'} action with key {key!r} (give at least 6 characters)", err=True
        )
        raise typer.Exit(EXIT_CONFIG)
    if status is not None and found[0].status != status:
        typer.echo(f"action {key!r} is {found[0].status}, not {status}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    return found[0]


InvoiceArgument = Annotated[str, typer.Argument(help="The invoice's number or ledger id.")]


@app.command()
def pause(
    invoice: InvoiceArgument,
    reason: Annotated[str, typer.Option(help="dispute, arrangement or hold.")],
    until: Annotated[str | None, typer.Option(help="Resume by itself after this date (YYYY-MM-DD).")] = None,
    note: NoteOption = None,
    by: ByOption = None,
    config: ConfigOption = None,
    admin: AdminOption = None,
) -> None:
    """Stop reminders for an invoice (a dispute, a payment arrangement, a manual hold)."""
    if reason not in HOLD_REASONS:
        typer.echo(f"--reason: expected one of {', '.join(HOLD_REASONS)}, got {reason!r}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    settings = _settings(config)
    who = _operator(by)
    with _store(settings) as store:
        workflow = WorkflowStore(store)
        administration_id, ledger_id = _one_invoice(store, workflow, settings, invoice, admin)
        workflow.hold(administration_id, ledger_id, reason, _parse_date(until) if until else None, note, by=who)
    typer.echo(f"paused {invoice} ({reason}{', until ' + until if until else ''})")


@app.command()
def resume(
    invoice: InvoiceArgument, by: ByOption = None, config: ConfigOption = None, admin: AdminOption = None
) -> None:
    """Lift the holds on an invoice: reminders continue where they stopped."""
    settings = _settings(config)
    who = _operator(by)
    with _store(settings) as store:
        workflow = WorkflowStore(store)
        administration_id, ledger_id = _one_invoice(store, workflow, settings, invoice, admin)
        released = workflow.release(administration_id, ledger_id, by=who)
    typer.echo(f"resumed {invoice}" if released else f"{invoice} was not paused")


@app.command()
def exclude(
    contact: Annotated[str, typer.Argument(help="The contact's ledger id.")],
    undo: Annotated[bool, typer.Option("--undo", help="Include the contact again.")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Also set: consumer or business.")] = None,
    recurring: Annotated[
        str | None,
        typer.Option(
            "--recurring",
            help="Also set: yes (their claims are periodic: the EUR 140 per six months cap on costs applies), no, "
            "or ledger (as the ledger says).",
        ),
    ] = None,
    policy: Annotated[str | None, typer.Option("--policy", help="Also set: the policy for this contact.")] = None,
    note: NoteOption = None,
    by: ByOption = None,
    config: ConfigOption = None,
    admin: AdminOption = None,
) -> None:
    """Exclude a customer from reminders (or, with --kind/--policy/--recurring, override how they are treated)."""
    settings = _settings(config)
    who = _operator(by)
    if kind not in (None, "consumer", "business"):
        typer.echo(f"--kind: expected consumer or business, got {kind!r}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if recurring not in (None, "yes", "no", "ledger"):
        typer.echo(f"--recurring: expected yes, no or ledger, got {recurring!r}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if policy is not None and policy not in settings.policies:
        typer.echo(f"--policy: unknown policy {policy!r} (known: {', '.join(sorted(settings.policies))})", err=True)
        raise typer.Exit(EXIT_CONFIG)
    (administration,) = _selected(settings, admin) if admin else _only_administration(settings)
    # Exclusion is what the command does by itself; with --kind or --policy it only changes those.
    overriding = kind or policy or recurring
    changes: dict[str, Any] = {"excluded": False} if undo else {} if overriding else {"excluded": True}
    if kind is not None:
        changes["debtor_kind"] = kind
    if recurring is not None:
        changes["recurring"] = {"yes": True, "no": False, "ledger": None}[recurring]
    if policy is not None:
        changes["policy"] = policy
    with _store(settings) as store:
        administration_id = store.administration_id(administration.name)
        known = administration_id is not None and store.contact(administration_id, contact) is not None
        if administration_id is None or not known:
            typer.echo(
                f"no mirrored customer with id {contact!r} in {administration.name} "
                "(`connector invoices` lists them; sync first if it is new)",
                err=True,
            )
            raise typer.Exit(EXIT_CONFIG)
        WorkflowStore(store).override_contact(administration_id, contact, by=who, note=note, **changes)
    done = "included" if undo else "updated" if overriding else "excluded"
    typer.echo(f"{done} contact {contact} in {administration.name}")


@app.command("start-at")
def start_at(
    invoice: InvoiceArgument,
    stage: Annotated[
        str | None, typer.Option("--stage", help="The stage it begins at (a name from its policy).")
    ] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Begin where the policy says again.")] = False,
    note: NoteOption = None,
    by: ByOption = None,
    config: ConfigOption = None,
    admin: AdminOption = None,
) -> None:
    """Say where an invoice not yet reminded of begins, when its earlier reminders went out elsewhere (by hand,
    another tool): a person's decision, in the audit log. It may be the legal letter."""
    if (stage is None) == (not undo):
        typer.echo("give --stage NAME, or --undo", err=True)
        raise typer.Exit(EXIT_CONFIG)
    settings = _settings(config)
    who = _operator(by)
    with _store(settings) as store:
        workflow = WorkflowStore(store)
        administration_id, ledger_id = _one_invoice(store, workflow, settings, invoice, admin)
        name = next(r.name for r in OverviewStore(store).administrations().values() if r.id == administration_id)
        administration = settings.administration(name)
        inputs = workflow.planning_inputs(administration_id)
        contact_id = workflow.contact_of(administration_id, ledger_id) or ""
        override = inputs.contacts.get(contact_id)
        policy_name = (override.policy if override else None) or administration.policy
        policy = settings.policies[policy_name]
        if stage is not None and policy.index(stage) < 0:
            names = ", ".join(s.name for s in policy.stages)
            typer.echo(f"--stage: policy {policy_name!r} has no stage {stage!r} (its stages: {names})", err=True)
            raise typer.Exit(EXIT_CONFIG)
        reached = inputs.progress.get(ledger_id)
        if reached is not None and reached.stage is not None:
            typer.echo(
                f"{invoice} is already at {reached.stage}: a start stage is for an invoice not yet reminded of",
                err=True,
            )
            raise typer.Exit(EXIT_CONFIG)
        workflow.start_at(administration_id, ledger_id, stage, by=who, note=note)
        contacts, numbers = workflow.names(administration_id)
    what = f"{numbers.get(ledger_id, ledger_id)} of {contacts.get(contact_id, contact_id)}"
    if stage is None:
        typer.echo(f"{what} begins where policy {policy_name!r} says again")
        return
    typer.echo(f"{what} begins at {stage} (decided by {who})")
    letter = policy.letter_index
    if letter is not None and policy.index(stage) >= letter:
        typer.echo(
            f"note: for {what}, {stage} will be the first message from us, with no reminder from us before it",
            err=True,
        )


STOP_LABELS = {"paused_in_ledger": "paused in the ledger"}


@app.command()
def holds(
    config: ConfigOption = None,
    admin: AdminOption = None,
    ended: Annotated[bool, typer.Option("--ended", help="Also the pauses lifted or run out.")] = False,
    as_json: JsonOption = False,
) -> None:
    """What stops reminders: excluded customers, paused invoices (dispute, arrangement, hold, with who and until
    when), and invoices a person paused in the ledger itself."""
    settings = _settings(config)
    today = business_date(_clock(), settings.connector.zone)
    rows = []
    with _store(settings) as store:
        workflow = WorkflowStore(store)
        for administration in _selected(settings, admin):
            administration_id = store.administration_id(administration.name)
            if administration_id is None:
                continue
            contacts, numbers = workflow.names(administration_id)
            for stop in workflow.stops(administration_id, today, ended=ended):
                rows.append(
                    {
                        "administration": administration.name,
                        **stop.to_json(),
                        "contact_name": contacts.get(stop.contact_id or ""),
                        "invoice_number": numbers.get(stop.invoice_id, stop.invoice_id) if stop.invoice_id else None,
                    }
                )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        customer = (row["contact_name"] or row["contact_id"] or "?")[:32]
        what = f"{row['invoice_number']} of {customer}" if row["invoice_number"] else customer
        details = [f"until {row['until']}" if row["until"] else ""]
        if row["since"]:
            details.append(f"since {_local(settings, datetime.fromisoformat(row['since']))}")
        if row["by"]:
            details.append(f"by {row['by']}")
        if row["note"]:
            details.append(f"({row['note']})")
        if row["ended"]:
            details.append(f"[{row['ended']}]")
        kind = STOP_LABELS.get(row["kind"], row["kind"])
        typer.echo(f"{row['administration']}  {kind:<20} {what:<48} {' '.join(d for d in details if d)}".rstrip())
    typer.echo(f"{len(rows)} exclusion(s), pause(s) and hold(s)")


@app.command()
def history(
    invoice: InvoiceArgument, config: ConfigOption = None, admin: AdminOption = None, as_json: JsonOption = False
) -> None:
    """Everything the workflow and people did for one invoice."""
    settings = _settings(config)
    with _store(settings) as store:
        workflow = WorkflowStore(store)
        administration_id, ledger_id = _one_invoice(store, workflow, settings, invoice, admin)
        entries = workflow.history(administration_id, ledger_id)
        contacts, numbers = workflow.names(administration_id)
        contact_id = workflow.contact_of(administration_id, ledger_id)
        treated_as = workflow.debtor(administration_id, contact_id)[1] if contact_id else None
    rows = [{"at": e.at.isoformat(), "event": e.event, "action_id": e.action_id, "detail": e.detail} for e in entries]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['at']}  {row['event']:<18} {json.dumps(row['detail'], ensure_ascii=False)}")
    customer = contacts.get(contact_id, contact_id) if contact_id else None
    typer.echo(
        f"{len(rows)} event(s) for invoice {numbers.get(ledger_id, ledger_id)}"
        + (f" of {customer}" if customer else "")
    )
    if treated_as:
        typer.echo(f"Treated as {treated_as}")


def _parse_date(value: str) -> Any:
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"not a date (YYYY-MM-DD): {value!r}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _only_administration(settings: Settings) -> list[Any]:
    if len(settings.administrations) != 1:
        typer.echo("several administrations are configured: say which with --admin NAME", err=True)
        raise typer.Exit(EXIT_CONFIG)
    return list(settings.administrations)


def _one_invoice(
    store: Store, workflow: WorkflowStore, settings: Settings, reference: str, admin: str | None
) -> tuple[int, str]:
    administration_id = None
    if admin is not None:
        _selected(settings, admin)
        administration_id = store.administration_id(admin)
    found = workflow.find_invoice(reference, administration_id)
    if not found:
        typer.echo(f"no mirrored invoice with number or id {reference!r}", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if len(found) > 1:
        typer.echo(f"{reference!r} matches invoices in several administrations: say which with --admin NAME", err=True)
        raise typer.Exit(EXIT_CONFIG)
    return found[0]


def _mount_simulators() -> None:
    """`connector simulate NAME` for every registered ledger with a simulator (and its aliases, hidden)."""
    for platform in registry.platforms():
        if platform.simulator is None:
            continue
        command = registry.load(platform.simulator)
        simulate_app.command(platform.name)(command)
        for alias in platform.aliases:
            simulate_app.command(alias, hidden=True)(command)


_mount_simulators()


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo keeps its store, e-mails and summary.")
    ] = Path("demo-data"),
    days: Annotated[int, typer.Option(help="Business days to play.", min=10, max=120)] = 45,
    seconds: Annotated[float, typer.Option(help="...in about this many seconds.", min=5, max=600)] = 35.0,
    invoices_count: Annotated[int, typer.Option("--invoices", help="Open invoices per administration.")] = 60,
    contacts_count: Annotated[int, typer.Option("--contacts", help="Customers per administration.")] = 24,
    health_port: Annotated[int, typer.Option(help="Port of the status page (0: any free port).")] = 0,
) -> None:
    """Run the daemon against simulated ledgers and an SMTP sink, with weeks of reminders played in a minute."""
    from connector.demo import run_demo

    summary = run_demo(
        directory,
        out=sys.stdout,
        days=days,
        seconds=seconds,
        invoices=invoices_count,
        contacts=contacts_count,
        health_port=health_port,
        starting_from=_clock(),
    )
    if not summary.consistent:
        raise typer.Exit(1)


# The commands about proof and delivery live beside this module; importing it registers them.
from connector import cli_proof, cli_users  # noqa: E402, F401
