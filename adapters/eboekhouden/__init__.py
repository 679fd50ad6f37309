"""e-Boekhouden.nl: outstanding invoices and relations over its REST API, with an API token per administration."""

from adapters.eboekhouden.adapter import EboekhoudenAdapter
from adapters.eboekhouden.client import end_sessions
from adapters.eboekhouden.settings import EboekhoudenAdministration
from connector.ledger.port import Platform

PLATFORM = Platform(
    name="eboekhouden",
    title="e-Boekhouden",
    settings=EboekhoudenAdministration,
    adapter=EboekhoudenAdapter,
    create=EboekhoudenAdapter.from_config,
    simulator="adapters.eboekhouden.simulator:command",
    simulated="adapters.eboekhouden.simulated:SimulatedEboekhouden",
    simulator_server="adapters.eboekhouden.simulator:EboekhoudenSimulator",
    shutdown=end_sessions,
)
