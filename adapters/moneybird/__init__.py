"""Moneybird: sales invoices and contacts over its REST API v2, with a bearer token per administration."""

from adapters.moneybird.adapter import MoneybirdAdapter
from adapters.moneybird.settings import MoneybirdAdministration
from connector.ledger.port import Platform

PLATFORM = Platform(
    name="moneybird",
    title="Moneybird",
    settings=MoneybirdAdministration,
    adapter=MoneybirdAdapter,
    create=MoneybirdAdapter.from_config,
    simulator="adapters.moneybird.simulator:command",
    simulated="adapters.moneybird.simulated:SimulatedMoneybird",
    simulator_server="adapters.moneybird.simulator:MoneybirdSimulator",
)
