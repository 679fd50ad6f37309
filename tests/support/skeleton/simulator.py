"""The Skeleton ledger's API, as a real HTTP server on loopback (the shared simulator server underneath).

GET  /api/invoices?since=V        invoices changed after version V, and the cursor to ask from next
GET  /api/invoices/{id}           one invoice
GET  /api/customers?since=V       customers changed after version V, and the cursor
GET  /api/customers/{id}          one customer
GET  /api/invoices/{id}/notes     the notes on an invoice
POST /api/invoices/{id}/notes     {"text": ..., "todo": false} -> {"id": ...}
"""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from connector.ledger import simulation
from connector.ledger.simulation import HttpError, Request, Response, SimulatorServer, serve_until_signal


class SkeletonSimulator(SimulatorServer):
    base_path = "/api"

    def __init__(self, invoices: int = 20, contacts: int = 5, seed: int = 0, today: date | None = None) -> None:
        super().__init__(rate_limit=100_000, rate_window_seconds=60)
        self.versions = itertools.count(1)
        self.note_ids = itertools.count(1)
        dice, today = random.Random(seed), today or date(2026, 11, 24)
        self.customers = {
            str(n): {"id": str(n), "name": f"Klant {n}", "email": f"klant{n}@voorbeeld.nl", "version": 0}
            for n in range(1, contacts + 1)
        }
        self.invoices: dict[str, dict[str, Any]] = {}
        for n in range(1, invoices + 1):
            total = Decimal(dice.randint(5_000, 300_000)) / 100
            self.invoices[str(1000 + n)] = {
                "id": str(1000 + n), "number": f"S-{n:04d}", "customer_id": str(dice.randint(1, contacts)),
                "due_date": (today - timedelta(days=dice.randint(-10, 90))).isoformat(),
                "total": str(total), "open": str(total), "version": 0, "notes": [],
            }  # fmt: skip
        for record in [*self.customers.values(), *self.invoices.values()]:
            record["version"] = next(self.versions)
        self.route("GET", r"/invoices", self._changed("invoices", self.invoices))
        self.route("GET", r"/customers", self._changed("customers", self.customers))
        self.route("GET", r"/invoices/(?P<id>\d+)", lambda r: Response.json(self._public(self._invoice(r))))
        self.route("GET", r"/customers/(?P<id>\d+)", self._customer)
        self.route("GET", r"/invoices/(?P<id>\d+)/notes", lambda r: Response.json(self._invoice(r)["notes"]))
        self.route("POST", r"/invoices/(?P<id>\d+)/notes", self._add_note)

    # -- what a person does in the ledger ---------------------------------------------------------------

    def pay(self, invoice_id: str, amount: Decimal | None = None) -> None:
        with self.lock:
            invoice = self.invoices[invoice_id]
            owed = Decimal(invoice["open"])
            invoice["open"] = str(owed - (owed if amount is None else amount))
            invoice["version"] = next(self.versions)

    def rename(self, customer_id: str, name: str) -> None:
        with self.lock:
            self.customers[customer_id].update(name=name, version=next(self.versions))

    # -- the API ------------------------------------------------------------------------------------------

    def _changed(self, key: str, records: dict[str, dict[str, Any]]) -> Any:
        def answer(request: Request) -> Response:
            since = int(request.query.get("since") or 0)
            changed = [self._public(r) for r in records.values() if r["version"] > since]
            cursor = max([since, *(r["version"] for r in records.values())])
            return Response.json({key: changed, "cursor": cursor})

        return answer

    def _invoice(self, request: Request) -> dict[str, Any]:
        invoice = self.invoices.get(request.params["id"])
        if invoice is None:
            raise HttpError(self.error_response(404, "no such invoice"))
        return invoice

    def _customer(self, request: Request) -> Response:
        customer = self.customers.get(request.params["id"])
        if customer is None:
            raise HttpError(self.error_response(404, "no such customer"))
        return Response.json(customer)

    def _add_note(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise HttpError(self.error_response(400, "text is missing"))
        note = {"id": str(next(self.note_ids)), "text": body["text"], "todo": bool(body.get("todo"))}
        self._invoice(request)["notes"].append(note)
        return Response.json(note, 201)

    @staticmethod
    def _public(record: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in record.items() if key != "notes"}


def command(
    port: simulation.PortOption = 0,
    seed_file: Annotated[Path | None, simulation.seed_file_option("(none: generated only)")] = None,
    generate: simulation.GenerateOption = None,
    contacts: simulation.ContactsOption = None,
) -> None:
    """The Skeleton ledger on 127.0.0.1; prints `listening on URL` first."""
    simulator = SkeletonSimulator(invoices=generate or 20, contacts=contacts or 5)
    serve_until_signal(simulator, port=port)
