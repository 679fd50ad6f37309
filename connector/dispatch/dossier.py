"""The case file a collection agency gets at the handover: who the debtor is (kind, postal address, contact
details), each invoice with its history, and the proof of the 14-day letter (its PDF and e-mail as sent, the day it
went, the day it is presumed received, the end of its term and the costs it stated): what the agency must prove.
"""

from __future__ import annotations

import base64
import csv
import io
import json as jsonlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connector.store.evidence import FilePart, Proof
from connector.store.models import Action, AuditEntry
from connector.workflow.legal import Channel, letter_term

CASE_VERSION = 2


@dataclass(frozen=True)
class LetterProof:
    """A legal letter that went to this debtor about the invoices handed over, with its evidence."""

    action: Action
    sent_on: date
    channel: Channel
    email_days: int
    proofs: Sequence[Proof]


@dataclass(frozen=True)
class CaseFile:
    document: dict[str, Any]  # the case as JSON
    files: list[FilePart] = field(default_factory=list)  # the letter's PDF and e-mail as sent, beside the JSON

    def json(self) -> bytes:
        """The case as written to disk (and kept as evidence: the same bytes)."""
        return jsonlib.dumps(self.document, indent=2, ensure_ascii=False, default=str).encode()

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["reference", "debtor", "invoice", "invoice_date", "due_date", "currency", "open_amount"])
        for invoice in self.document["invoices"]:
            writer.writerow(
                [
                    self.document["reference"],
                    self.document["debtor"]["name"],
                    invoice["number"],
                    invoice["invoice_date"],
                    invoice["due_date"],
                    invoice["currency"],
                    invoice["open_amount"],
                ]
            )
        return out.getvalue().encode()

    def for_upload(self) -> dict[str, Any]:
        """The case as the agency's intake gets it: the documents inline (base64), each with its hash."""
        return {
            **self.document,
            "documents": [
                {**entry, "content_base64": base64.b64encode(part.content).decode()}
                for entry, part in zip(self.document["documents"], self.files, strict=True)
            ],
        }


def build_case(
    *,
    administration: str,
    reference: str,
    created_at: str,
    stem: str,
    debtor: Mapping[str, Any],
    invoices: Sequence[Mapping[str, Any]],
    history: Sequence[AuditEntry],
    amounts: Mapping[str, Any],
    letters: Sequence[LetterProof],
) -> CaseFile:
    files: list[FilePart] = []
    letter_entries = []
    for letter in letters:
        term = letter_term(letter.sent_on, letter.channel, email_days=letter.email_days)
        plan = letter.action.planned
        sent = [proof for proof in letter.proofs if proof.evidence.status != "prepared"]
        proof = sent[-1] if sent else None
        documents = []
        for part in proof.files if proof else []:
            name = f"{stem}-{letter.action.stage}-{part.name}"
            files.append(FilePart(name, part.media_type, part.content))
            documents.append(name)
        letter_entries.append(
            {
                "reference": letter.action.key[:12],
                "stage": letter.action.stage,
                "channel": letter.channel,
                "sent_on": letter.sent_on.isoformat(),
                "presumed_received_on": term.delivered.isoformat(),
                "term_last_day": term.last_day.isoformat(),
                "costs_due_from": term.costs_due_from.isoformat(),
                "principal": plan.get("principal"),
                "collection_costs_stated": plan.get("collection_costs"),
                "interest_stated": plan.get("interest"),
                "debtor_kind": plan.get("debtor_kind"),
                "recipient": proof.evidence.recipient if proof else None,
                "status": proof.evidence.status if proof else None,
                "handed_over_at": proof.evidence.handed_at.isoformat() if proof and proof.evidence.handed_at else None,
                "server_reply": proof.evidence.server_reply if proof else None,
                "queue_id": proof.evidence.external_id if proof else None,
                "delivery_events": [
                    {"at": event.at.isoformat(), "kind": event.kind, **event.detail} for event in proof.events
                ]
                if proof
                else [],
                "documents": documents,
            }
        )
    by_invoice: dict[str | None, list[dict[str, Any]]] = {}
    for entry in history:
        by_invoice.setdefault(entry.invoice_ledger_id, []).append(
            {"at": entry.at.isoformat(), "event": entry.event, **entry.detail}
        )
    document = {
        "case_version": CASE_VERSION,
        "administration": administration,
        "reference": reference,
        "created_at": created_at,
        "debtor": dict(debtor),
        "invoices": [{**invoice, "history": by_invoice.get(invoice["ledger_id"], [])} for invoice in invoices],
        **amounts,
        "legal_letters": letter_entries,
        "documents": [
            {"name": part.name, "media_type": part.media_type, "sha256": part.sha256, "size": len(part.content)}
            for part in files
        ],
        # Kept for readers of the first case-file version: every event, oldest first.
        "history": [
            {"at": e.at.isoformat(), "event": e.event, "invoice": e.invoice_ledger_id, **e.detail} for e in history
        ],
    }
    return CaseFile(document, files)
