"""Moneybird's simulator as the contract tests drive it (see `SimulatedLedger`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from adapters.moneybird.settings import MoneybirdAdministration
from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import Clock
from connector.ledger.port import SimulatedLedger

OPEN_STATES = ("open", "late", "reminded")


class SimulatedMoneybird(SimulatedLedger):
    platform = "moneybird"

    def __init__(self, simulator: MoneybirdSimulator, token: str = "simulated-token") -> None:  # noqa: S107 - any token does
        self.simulator, self.token = simulator, token
        self.admin = simulator.administration_ids[0]

    @classmethod
    def start(cls, *, invoices: int, contacts: int, seed: int, today: date, clock: Clock) -> SimulatedMoneybird:
        simulator = MoneybirdSimulator.generate(
            invoices=invoices, contacts=contacts, seed=seed, today=today, clock=clock, rate_limit=100_000
        )
        simulator.start()
        return cls(simulator)

    @property
    def server(self) -> MoneybirdSimulator:
        return self.simulator

    def settings(self, name: str = "acme", **extra: Any) -> MoneybirdAdministration:
        return MoneybirdAdministration(
            name=name,
            platform="moneybird",
            base_url=self.simulator.base_url,
            administration_id=self.admin,
            token=SecretStr(self.token),
            **extra,
        )

    def open_ids(self) -> list[str]:
        return [i for i in self.simulator.invoice_ids(self.admin) if self.is_open(i)]

    def is_open(self, ledger_id: str) -> bool:
        return self.simulator.get_invoice(self.admin, ledger_id)["state"] in OPEN_STATES

    def pay(self, ledger_id: str, amount: Decimal | None = None) -> None:
        invoice = self.simulator.get_invoice(self.admin, ledger_id)
        self.simulator.add_payment(self.admin, ledger_id, amount if amount is not None else invoice["total_unpaid"])

    def notes(self) -> list[tuple[str, str]]:
        return [
            (ledger_id, note["note"])
            for ledger_id in self.simulator.invoice_ids(self.admin)
            for note in self.simulator.get_invoice(self.admin, ledger_id)["notes"]
        ]

    def requests(self) -> list[dict[str, Any]]:
        return self.simulator.requests()

    def reminders_paused(self, ledger_id: str) -> bool:
        return bool(self.simulator.get_invoice(self.admin, ledger_id).get("paused"))

    def rename_customer(self, ledger_id: str, name: str) -> None:
        contact_id = self.simulator.get_invoice(self.admin, ledger_id)["contact_id"]
        self.simulator.update_contact(self.admin, contact_id, company_name=name)

    def stop(self) -> None:
        self.simulator.stop()
