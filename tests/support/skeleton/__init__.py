"""A fourth ledger, for tests only: the smallest plugin that keeps the port's contract.

It proves that a ledger is one folder and a registration: nothing outside this folder knows it. The test that
uses it registers it (`connector.ledger.registry.register(PLATFORM)`); a real ledger adds one line to the
registry's BUILT_IN instead, or an entry point.
"""

from connector.ledger.port import Platform
from tests.support.skeleton.adapter import SkeletonAdapter
from tests.support.skeleton.settings import SkeletonAdministration

PLATFORM = Platform(
    name="skeleton",
    title="Skeleton",
    settings=SkeletonAdministration,
    adapter=SkeletonAdapter,
    create=SkeletonAdapter.from_config,
    simulator="tests.support.skeleton.simulator:command",
    simulator_server="tests.support.skeleton.simulator:SkeletonSimulator",
    simulated="tests.support.skeleton.simulated:SimulatedSkeleton",
)
