"""e-Boekhouden's simulator as the contract tests drive it (see `SimulatedLedger`).

e-Boekhouden has no notes: the connector keeps its lines in a block in the relation's note field.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from adapters.eboekhouden.mapping import summary_lines
from adapters.eboekhouden.settings import EboekhoudenAdministration
from adapters.eboekhouden.simulator import EboekhoudenSimulator
from connector.clock import Clock
from connector.ledger.port import SimulatedLedger

_NAMES_INVOICE = re.compile(r"Factuur (\S+): ")


class SimulatedEboekhouden(SimulatedLedger):
    platform = "eboekhouden"

    def __init__(self, simulator: EboekhoudenSimulator) -> None:
        self.simulator = simulator

    @classmethod
    def start(cls, *, invoices: int, contacts: int, seed: int, today: date, clock: Clock) -> SimulatedEboekhouden:
        simulator = EboekhoudenSimulator.generate(
            items=invoices, relations=contacts, seed=seed, today=today, clock=clock
        )
        simulator.start()
        return cls(simulator)

    @property
    def server(self) -> EboekhoudenSimulator:
        return self.simulator

    def settings(self, name: str = "acme", **extra: Any) -> EboekhoudenAdministration:
        return EboekhoudenAdministration(
            name=name,
            platform="eboekhouden",
            base_url=self.simulator.base_url,
            api_token=SecretStr(self.simulator.api_token),
            **extra,
        )

    def open_ids(self) -> list[str]:
        return self.simulator.outstanding_ids()

    def is_open(self, ledger_id: str) -> bool:
        return self.simulator.outstanding(ledger_id) is not None

    def pay(self, ledger_id: str, amount: Decimal | None = None) -> None:
        self.simulator.add_payment(ledger_id, amount)

    def notes(self) -> list[tuple[str, str]]:
        by_number = {}
        for mutation_id in self.simulator.sales_invoice_ids():
            by_number[self.simulator.mutation(mutation_id)["invoiceNumber"]] = mutation_id
        found = []
        for relation_id in self.simulator.relation_ids():
            for line in summary_lines(self.simulator.relation(relation_id).get("note")):
                match = _NAMES_INVOICE.match(line)
                if match and match.group(1) in by_number:
                    found.append((by_number[match.group(1)], line))
        return found

    def requests(self) -> list[dict[str, Any]]:
        return [r for r in self.simulator.requests() if r["path"].startswith("/v1/")]

    def rename_customer(self, ledger_id: str, name: str) -> None:
        self.simulator.update_relation(self.simulator.mutation(ledger_id)["relationId"], name=name)

    def stop(self) -> None:
        self.simulator.stop()
