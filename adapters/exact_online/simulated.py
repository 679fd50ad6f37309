"""Exact Online's simulator as the contract tests drive it (see `SimulatedLedger`).

Exact has no invoice notes: the connector writes CommunicationNotes (Tasks for a call) naming the invoice.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from adapters.exact_online.settings import ExactOnlineAdministration
from adapters.exact_online.simulator import ExactOnlineSimulator
from connector.clock import Clock
from connector.ledger.oauth import TokenGrant
from connector.ledger.port import SimulatedLedger

_NAMES_INVOICE = re.compile(r"Factuur (\d+):")


class SimulatedExactOnline(SimulatedLedger):
    platform = "exact_online"

    def __init__(self, simulator: ExactOnlineSimulator) -> None:
        self.simulator = simulator

    @classmethod
    def start(cls, *, invoices: int, contacts: int, seed: int, today: date, clock: Clock) -> SimulatedExactOnline:
        simulator = ExactOnlineSimulator.generate(
            terms=invoices,
            accounts=contacts,
            seed=seed,
            today=today,
            clock=clock,  # the ledger's time is the caller's: tokens expire as its days pass
            rate_limit_minutely=100_000,
            rate_limit_daily=1_000_000,
        )
        simulator.start()
        return cls(simulator)

    @property
    def server(self) -> ExactOnlineSimulator:
        return self.simulator

    def settings(self, name: str = "acme", **extra: Any) -> ExactOnlineAdministration:
        return ExactOnlineAdministration(
            name=name,
            platform="exact_online",
            base_url=self.simulator.base_url,
            division=self.simulator.division,
            client_id=self.simulator.client_id,
            client_secret=SecretStr(self.simulator.client_secret),
            redirect_uri=self.simulator.redirect_uri,
            **extra,
        )

    def grant(self) -> TokenGrant:
        body = self.simulator.issue_tokens()
        return TokenGrant(body["access_token"], body["refresh_token"], int(body["expires_in"]))

    def open_ids(self) -> list[str]:
        return [str(number) for number in self.simulator.open_invoice_numbers()]

    def is_open(self, ledger_id: str) -> bool:
        return bool(self.simulator.open_terms(int(ledger_id)))

    def pay(self, ledger_id: str, amount: Decimal | None = None) -> None:
        owed = sum((Decimal(str(t["AmountDC"])) for t in self.simulator.open_terms(int(ledger_id))), Decimal(0))
        self.simulator.add_payment(int(ledger_id), owed if amount is None else amount)

    def notes(self) -> list[tuple[str, str]]:
        found = []
        for row in [*self.simulator.notes(), *self.simulator.tasks()]:
            match = _NAMES_INVOICE.match(str(row.get("Subject") or row.get("Description") or ""))
            if match:
                found.append((match.group(1), str(row["Notes"])))
        return found

    def requests(self) -> list[dict[str, Any]]:
        return [r for r in self.simulator.requests() if "/api/oauth2/" not in r["path"]]

    def rename_customer(self, ledger_id: str, name: str) -> None:
        account = self.simulator.terms(int(ledger_id))[0]["Account"]
        self.simulator.update_account(str(account), Name=name)

    def stop(self) -> None:
        self.simulator.stop()
