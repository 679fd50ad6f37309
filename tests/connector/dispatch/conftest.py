"""The dispatcher tests' simulated administration (`world`), shared with the tests beside them."""

from tests.connector.dispatch.test_dispatcher import world  # noqa: F401 (a fixture)
