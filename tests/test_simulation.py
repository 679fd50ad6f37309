"""The machinery every ledger simulator shares: routing, request log, faults, rate limit, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector.ledger.simulation import (
    FaultInjector,
    FixedWindowRateLimiter,
    HttpError,
    Request,
    Response,
    SimulatorServer,
    parse_fault_spec,
)


class ItemsSimulator(SimulatorServer):
    """A toy ledger with one resource, enough to drive the shared pipeline."""

    base_path = "/api"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.items = {"1": {"id": "1", "name": "first"}}
        self.route("GET", r"/items/(?P<id>\d+)", self.get_item)
        self.route("POST", r"/items", self.add_item)
        self.route("GET", r"/crash", self.crash)

    def get_item(self, request: Request) -> Response:
        item = self.items.get(request.params["id"])
        if item is None:
            raise HttpError(self.error_response(404, "no such item"))
        return Response.json(item)

    def add_item(self, request: Request) -> Response:
        body = request.json()
        self.items[str(len(self.items) + 1)] = body
        return Response.json(body, 201)

    def crash(self, request: Request) -> Response:
        raise RuntimeError("simulated bug")


@pytest.fixture
def toy() -> Iterator[ItemsSimulator]:
    with ItemsSimulator() as simulator:
        yield simulator


@pytest.fixture
def client(toy: ItemsSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toy.base_url, headers={"Authorization": "Bearer t"}) as api:
        yield api


def test_parse_fault_spec() -> None:
    assert parse_fault_spec(None) == parse_fault_spec(" ") == ()
    assert parse_fault_spec("5xx:0.2, timeout:0.1") == (("5xx", 0.2), ("timeout", 0.1))
    for bad in ("explode:0.1", "5xx", "5xx:lots", "drop:1.5", "drop:0.6,malformed:0.6"):
        with pytest.raises(ValueError):
            parse_fault_spec(bad)


def test_fault_draws_are_seeded_and_follow_the_rates() -> None:
    first = FaultInjector("5xx:0.5,drop:0.25", seed=4)
    second = FaultInjector("5xx:0.5,drop:0.25", seed=4)
    sample = [first.draw() for _ in range(2000)]
    assert sample == [second.draw() for _ in range(2000)]
    assert set(sample) == {"500", "502", "503", "drop", None}
    assert 0.45 < sum(kind in ("500", "502", "503") for kind in sample) / 2000 < 0.55
    assert 0.2 < sample.count("drop") / 2000 < 0.3
    first.configure(None)
    assert first.draw() is None and first.spec is None


def test_rate_limiter_fixed_window_per_key() -> None:
    now = [1000.0]
    limiter = FixedWindowRateLimiter(2, 10.0, clock=lambda: now[0])
    assert [limiter.hit("a").allowed for _ in range(3)] == [True, True, False]
    refused = limiter.hit("a")
    assert (refused.allowed, refused.remaining, refused.reset_at) == (False, 0, 1010.0)
    assert limiter.hit("b").remaining == 1  # another key has its own window
    now[0] = 1010.0
    assert limiter.hit("a").allowed  # a new window starts at this request
    assert limiter.hit("a").reset_at == 1020.0
    limiter.block("b", 2.0)
    blocked = limiter.hit("b")
    assert (blocked.allowed, blocked.reset_at) == (False, 1012.0)
    now[0] = 1012.0
    assert limiter.hit("b").allowed


def test_routing_json_and_errors(toy: ItemsSimulator, client: httpx.Client) -> None:
    assert client.get("/items/1").json() == {"id": "1", "name": "first"}
    assert client.post("/items", json={"name": "second"}).status_code == 201
    assert toy.items["2"] == {"name": "second"}
    assert client.get("/items/9").json() == {"error": "no such item"}
    assert client.post("/items", content=b"{not json").status_code == 400
    assert client.get("/nothing").status_code == 404
    assert client.delete("/items/1").status_code == 404  # method is part of the route
    assert client.get(f"{toy.base_url.removesuffix('/api')}/outside").status_code == 404


def test_a_crashing_handler_answers_500_and_the_server_keeps_serving(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert client.get("/crash").status_code == 500
    assert "simulated bug" in capsys.readouterr().err
    assert client.get("/items/1").status_code == 200


def test_tokens_are_checked_and_never_logged(toy: ItemsSimulator) -> None:
    assert httpx.get(f"{toy.base_url}/items/1").status_code == 401
    assert httpx.get(f"{toy.base_url}/items/1", headers={"Authorization": "Basic abc"}).status_code == 401
    with ItemsSimulator(valid_tokens={"secret-1"}) as strict:
        url = f"{strict.base_url}/items/1"
        assert httpx.get(url, headers={"Authorization": "Bearer secret-1"}).status_code == 200
        assert httpx.get(url, headers={"Authorization": "Bearer secret-2"}).status_code == 401
        assert "secret" not in str(strict.requests())


def test_request_log_and_control_endpoints(toy: ItemsSimulator, client: httpx.Client) -> None:
    client.get("/items/1", params={"a": "1", "b": ""})
    control = toy.base_url.removesuffix("/api") + "/_simulator"
    assert httpx.post(f"{control}/faults", json={"spec": "503:1.0", "seed": 2}).json() == {"spec": "503:1.0", "seed": 2}
    assert client.get("/items/1").status_code == 503
    assert httpx.post(f"{control}/faults", json={"spec": "nonsense"}).status_code == 400
    assert httpx.post(f"{control}/faults", json={"spec": None}).status_code == 200
    entries = httpx.get(f"{control}/requests").json()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in entries] == [
        ("GET", "/api/items/1", {"a": "1", "b": ""}, 200),
        ("GET", "/api/items/1", {}, 503),
    ]
    assert httpx.get(f"{control}/nothing").status_code == 404
    toy.clear_requests()
    assert toy.requests() == []


def test_generic_429_carries_a_retry_after_delay() -> None:
    with (
        ItemsSimulator(rate_limit=1, rate_window_seconds=30) as toy,
        httpx.Client(base_url=toy.base_url, headers={"Authorization": "Bearer t"}) as api,
    ):
        assert api.get("/items/1").status_code == 200
        throttled = api.get("/items/1")
        assert throttled.status_code == 429 and 29 <= int(throttled.headers["Retry-After"]) <= 30


def test_lifecycle() -> None:
    toy = ItemsSimulator()
    with pytest.raises(RuntimeError):
        _ = toy.base_url
    url = toy.start(port=0)
    assert url == f"http://127.0.0.1:{toy.port}/api"
    with pytest.raises(RuntimeError):
        toy.start()
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer t"}) as api:
        assert api.get("/items/1").status_code == 200  # leaves a keep-alive connection open
        toy.stop()
        toy.stop()  # idempotent
        with pytest.raises(httpx.TransportError):
            api.get("/items/1")
