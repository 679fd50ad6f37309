"""Commands about proof and delivery: `connector evidence` (a dossier of what was sent, byte for byte),
`connector bounces` (messages that did not arrive, and resolving them), `connector post` (letters by post)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from connector import decisions
from connector.cli import (
    EXIT_CONFIG,
    AdminOption,
    ByOption,
    ConfigOption,
    JsonOption,
    NoteOption,
    _clock,
    _local,
    _one_action,
    _operator,
    _parse_date,
    _selected,
    _settings,
    _store,
    app,
)
from connector.clock import business_date
from connector.dispatch.deliveries import delivery_tracker
from connector.dispatch.dispatcher import post_provider
from connector.dispatch.post import FolderPost
from connector.store import Store
from connector.store.evidence import EvidenceStore, Proof
from connector.store.outbox import OutboxStore
from connector.store.workflow import WorkflowStore

bounces_app = typer.Typer(
    help="Messages that did not reach the customer (bounced e-mails, returned letters): the customer's reminders "
    "wait until a person fixed the address.",
    invoke_without_command=True,
)
post_app = typer.Typer(help="Letters by post: the print service's statuses, and batches posted by hand.")
app.add_typer(bounces_app, name="bounces")
app.add_typer(post_app, name="post")


# --- evidence ---------------------------------------------------------------------------------------------


@app.command()
def evidence(
    key: Annotated[str | None, typer.Argument(help="An action's key (the first 6 characters are enough).")] = None,
    out: Annotated[Path, typer.Option("--out", help="The folder to write the dossier in.")] = Path("evidence"),
    customer: Annotated[
        str | None, typer.Option("--customer", help="Every message to this customer (their ledger id), with --admin.")
    ] = None,
    admin: AdminOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the proof of what was sent, for one action or one customer: each message exactly as it left (the
    .eml, the letter's PDF, the case file), its SHA-256, the server's reply, and every report that came back."""
    if (key is None) == (customer is None):
        typer.echo("give an action's key, or --customer ID with --admin NAME", err=True)
        raise typer.Exit(EXIT_CONFIG)
    settings = _settings(config)
    with _store(settings) as store:
        proofs, subject = _proofs(store, settings, key, customer, admin)
        if not proofs:
            typer.echo(f"nothing was recorded as sent for {subject}", err=True)
            raise typer.Exit(1)
        actions = OutboxStore(store).by_ids([p.evidence.action_id for p in proofs])
    folder = out / subject.replace(" ", "-")
    manifest = _write_dossier(folder, proofs, actions)
    broken = [f["path"] for m in manifest["messages"] for f in m["files"] if not f["verified"]]
    if as_json:
        typer.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
    else:
        for message in manifest["messages"]:
            reply = message["server_reply"] or "-"
            typer.echo(
                f"{message['prepared_at'][:16]}  {message['stage']:<18} {message['channel']:<8} "
                f"{message['status']:<10} {message['recipient'][:40]:<40} {reply[:60]}"
            )
        typer.echo(f"{len(manifest['messages'])} message(s) written to {folder} (manifest.json lists every file)")
    if broken:
        typer.echo(f"stored bytes do not match their hash: {', '.join(broken)}", err=True)
        raise typer.Exit(1)


def _proofs(
    store: Store, settings: Any, key: str | None, customer: str | None, admin: str | None
) -> tuple[list[Proof], str]:
    evidence_store = EvidenceStore(store)
    if key is not None:
        action = _one_action(OutboxStore(store), key, None)
        return evidence_store.proofs(action_ids=[action.id]), f"action-{action.key[:12]}"
    if admin is None:
        typer.echo("--customer needs --admin NAME", err=True)
        raise typer.Exit(EXIT_CONFIG)
    _selected(settings, admin)
    administration_id = store.administration_id(admin)
    if administration_id is None:
        return [], f"customer {customer}"
    return evidence_store.proofs(administration_id=administration_id, contact=customer), f"{admin}-customer-{customer}"


def _write_dossier(folder: Path, proofs: list[Proof], actions: dict[int, Any]) -> dict[str, Any]:
    messages = []
    for number, proof in enumerate(proofs, start=1):
        row = proof.evidence
        action = actions.get(row.action_id)
        stage = action.stage if action else "?"
        place = folder / f"{number:02d}-{stage}-{row.channel}-try{row.attempt}"
        place.mkdir(parents=True, exist_ok=True)
        files = []
        for part in proof.files:
            (place / part.name).write_bytes(part.content)
            files.append(
                {
                    "path": str((place / part.name).relative_to(folder)),
                    "media_type": part.media_type,
                    "size": part.size,
                    "sha256": part.sha256,
                    "verified": _sha(part.content) == part.sha256,
                }
            )
        events = []
        for index, event in enumerate(proof.events, start=1):
            entry: dict[str, Any] = {"at": event.at.isoformat(), "kind": event.kind, "detail": event.detail}
            if event.raw:
                name = f"report-{index:02d}-{event.kind}.eml"
                (place / name).write_bytes(event.raw)
                entry["report"] = {"path": str((place / name).relative_to(folder)), "sha256": _sha(event.raw)}
            events.append(entry)
        messages.append(
            {
                "action_key": row.action_key,
                "reference": row.action_key[:12],
                "stage": stage,
                "legal_letter": bool(action and action.legal_letter),
                "channel": row.channel,
                "attempt": row.attempt,
                "recipient": row.recipient,
                "status": row.status,
                "prepared_at": row.prepared_at.isoformat(),
                "handed_at": row.handed_at.isoformat() if row.handed_at else None,
                "server_reply": row.server_reply,
                "queue_id": row.external_id,
                "deadline_stated": (action.outcome.get("deadline") if action else None),
                "posted_on": (action.outcome.get("posted_on") if action else None),
                "files": files,
                "events": events,
            }
        )
    manifest = {"exported_at": _clock().now().isoformat(), "messages": messages}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# --- bounces ------------------------------------------------------------------------------------------------


@bounces_app.callback()
def bounces(
    context: typer.Context,
    fetch: Annotated[
        bool, typer.Option("--fetch", help="Read the bounce mailboxes and the post service's statuses first.")
    ] = False,
    admin: AdminOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the messages that did not arrive (and, with --fetch, read what came back first)."""
    if context.invoked_subcommand is not None:
        return
    settings = _settings(config)
    with _store(settings) as store:
        if fetch:
            tracker = delivery_tracker(settings, store, _clock())
            boxes = [
                email.bounces
                for administration in _selected(settings, admin)
                if (email := settings.email_for(administration)) is not None and email.bounces is not None
            ]
            outcome = tracker.poll_post(tracker.read_mailboxes(boxes))
            for problem in outcome.problems:
                typer.echo(problem, err=True)
            typer.echo(
                f"read {outcome.messages_read} message(s): {outcome.reports} report(s) on ours, "
                f"{len(outcome.bounced)} undelivered, {len(outcome.posted)} letter(s) posted"
            )
        rows = _problem_rows(store, settings, admin)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        typer.echo(
            f"{row['administration']}  {row['since']}  {(row['contact_name'] or row['contact_id'])[:32]:<32} "
            f"{row['stage']:<18} {row['channel']:<6} {row['address']}: {row['reason']}"
        )
    typer.echo(
        f"{len(rows)} customer message(s) did not arrive"
        + (": fix the address in the ledger, then `connector bounces resolve CONTACT --admin NAME`" if rows else "")
    )


def _problem_rows(store: Store, settings: Any, admin: str | None) -> list[dict[str, Any]]:
    rows = []
    workflow = WorkflowStore(store)
    evidence_store = EvidenceStore(store)
    box = OutboxStore(store)
    for administration in _selected(settings, admin):
        administration_id = store.administration_id(administration.name)
        if administration_id is None:
            continue
        contacts, _ = workflow.names(administration_id)
        stages = {a.id: a.stage for a in box.actions(administration_id, ["undelivered"])}
        for problem in evidence_store.problems(administration_id):
            rows.append(
                {
                    "administration": administration.name,
                    "contact_id": problem.contact_ledger_id,
                    "contact_name": contacts.get(problem.contact_ledger_id),
                    "stage": stages.get(problem.action_id, "?"),
                    "channel": problem.channel,
                    "address": problem.address,
                    "reason": problem.reason,
                    "since": _local(settings, problem.created_at),
                }
            )
    return rows


@bounces_app.command("resolve")
def bounces_resolve(
    contact: Annotated[str, typer.Argument(help="The customer's ledger id.")],
    admin: Annotated[str, typer.Option("--admin", help="The administration (its name).")],
    same_address: Annotated[
        bool,
        typer.Option("--same-address", help="The address was right after all (a passing fault): send to it again."),
    ] = False,
    note: NoteOption = None,
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """The address is fixed in the ledger: the customer's reminders go on, and the message that did not arrive
    goes again (to the new address, after the next sync)."""
    settings = _settings(config)
    who = _operator(by)
    _selected(settings, admin)
    with _store(settings) as store:
        administration_id = store.administration_id(admin)
        if administration_id is None:
            typer.echo(f"nothing undelivered for customer {contact!r} of {admin}", err=True)
            raise typer.Exit(EXIT_CONFIG)
        try:
            resolved = decisions.resolve_undelivered(
                store, administration_id, contact, by=who, note=note, same_address=same_address
            )
        except decisions.Refused as exc:
            hint = (
                ", or say --same-address if it was a passing fault"
                if exc.code == "address_unchanged"
                else f" of {admin}"
            )
            typer.echo(f"{exc}{hint}", err=True)
            raise typer.Exit(EXIT_CONFIG) from None
    typer.echo(f"{resolved} undelivered message(s) of {contact} resolved by {who}: reminders go on")


# --- post -----------------------------------------------------------------------------------------------------


@post_app.command("posted")
def post_posted(
    batch: Annotated[str, typer.Option("--batch", help="The print batch (its day, YYYY-MM-DD).")],
    on: Annotated[str | None, typer.Option("--on", help="The day it went in the post (default: today).")] = None,
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Report a print batch posted: each letter's term runs from that day."""
    settings = _settings(config)
    who = _operator(by)
    posted_on = _parse_date(on) if on else business_date(_clock(), settings.connector.zone)
    batch_day = _parse_date(batch)
    if posted_on < batch_day:
        typer.echo(f"--on {posted_on} is before the batch was made ({batch_day})", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if posted_on > business_date(_clock(), settings.connector.zone):
        typer.echo(f"--on {posted_on} is in the future", err=True)
        raise typer.Exit(EXIT_CONFIG)
    with _store(settings) as store:
        provider = post_provider(settings, _clock(), settings.connector.zone)
        if not isinstance(provider, FolderPost):
            typer.echo('only a print batch ([post] provider = "folder") is reported posted by hand', err=True)
            raise typer.Exit(EXIT_CONFIG)
        keys = list(provider.batch_letters(batch_day))
        if not keys:
            typer.echo(f"no print batch for {batch_day} in {provider.folder}", err=True)
            raise typer.Exit(EXIT_CONFIG)
        done = delivery_tracker(settings, store, _clock()).mark_posted(keys, posted_on, by=who)
    typer.echo(f"{len(done)} letter(s) of batch {batch_day} posted on {posted_on} (reported by {who})")


@post_app.command("status")
def post_status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Ask the print service about letters not yet reported posted, and list those still waiting."""
    settings = _settings(config)
    with _store(settings) as store:
        outcome = delivery_tracker(settings, store, _clock()).poll_post()
        waiting = EvidenceStore(store).awaiting("post", ["accepted"])
    rows = [
        {
            "reference": e.action_key[:12],
            "letter_id": e.external_id,
            "handed_at": e.handed_at.isoformat() if e.handed_at else None,
            "address": e.recipient,
        }
        for e in waiting
    ]
    if as_json:
        typer.echo(json.dumps({"posted": outcome.posted, "waiting": rows, "problems": outcome.problems}, indent=2))
        return
    for problem in outcome.problems:
        typer.echo(problem, err=True)
    for row in rows:
        typer.echo(f"{row['reference']}  {row['letter_id']}  handed over {row['handed_at'] or '-'}  {row['address']}")
    typer.echo(f"{len(outcome.posted)} letter(s) reported posted now; {len(rows)} waiting to be posted")
