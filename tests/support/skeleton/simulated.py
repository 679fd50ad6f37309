"""The Skeleton simulator as the contract tests drive it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from connector.clock import Clock
from connector.ledger.port import SimulatedLedger
from tests.support.skeleton.settings import SkeletonAdministration
from tests.support.skeleton.simulator import SkeletonSimulator


class SimulatedSkeleton(SimulatedLedger):
    platform = "skeleton"

    def __init__(self, simulator: SkeletonSimulator) -> None:
        self.simulator = simulator

    @classmethod
    def start(cls, *, invoices: int, contacts: int, seed: int, today: date, clock: Clock) -> SimulatedSkeleton:
        simulator = SkeletonSimulator(invoices=invoices, contacts=contacts, seed=seed, today=today)
        simulator.start()
        return cls(simulator)

    @property
    def server(self) -> SkeletonSimulator:
        return self.simulator

    def settings(self, name: str = "acme", **extra: Any) -> SkeletonAdministration:
        return SkeletonAdministration(
            name=name, platform="skeleton", base_url=self.simulator.base_url, token=SecretStr("skeleton"), **extra
        )

    def open_ids(self) -> list[str]:
        return [i for i in self.simulator.invoices if self.is_open(i)]

    def is_open(self, ledger_id: str) -> bool:
        return Decimal(self.simulator.invoices[ledger_id]["open"]) > 0

    def pay(self, ledger_id: str, amount: Decimal | None = None) -> None:
        self.simulator.pay(ledger_id, amount)

    def notes(self) -> list[tuple[str, str]]:
        return [(i, note["text"]) for i, invoice in self.simulator.invoices.items() for note in invoice["notes"]]

    def requests(self) -> list[dict[str, Any]]:
        return self.simulator.requests()

    def rename_customer(self, ledger_id: str, name: str) -> None:
        self.simulator.rename(self.simulator.invoices[ledger_id]["customer_id"], name)

    def stop(self) -> None:
        self.simulator.stop()
