"""Exact Online: receivables and accounts over its REST API (OData), with OAuth2 tokens kept in the store."""

from adapters.exact_online.adapter import ExactOnlineAdapter, oauth_for, reachable_divisions
from adapters.exact_online.settings import ExactOnlineAdministration
from connector.ledger.port import OAuthSupport, Platform

PLATFORM = Platform(
    name="exact_online",
    title="Exact Online",
    settings=ExactOnlineAdministration,
    adapter=ExactOnlineAdapter,
    create=ExactOnlineAdapter.from_config,
    oauth=OAuthSupport(
        client=oauth_for,
        reachable=reachable_divisions,
        configured=lambda settings: str(settings.division),
        reachable_kind="division",
    ),
    simulator="adapters.exact_online.simulator:command",
    simulated="adapters.exact_online.simulated:SimulatedExactOnline",
    simulator_server="adapters.exact_online.simulator:ExactOnlineSimulator",
    aliases=("exact",),
)
