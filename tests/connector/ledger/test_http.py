"""The shared HTTP layer, driven through httpx.MockTransport (the client's unit boundary) and a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from connector.ledger.http import ApiClient, RateLimit, RateLimiter, RetryPolicy, reset_delay
from connector.ledger.port import AuthError, NotFound, RateLimited, RequestRejected, TransientError
from connector.log import MASK, redact_url, register_secret


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], time: FakeTime | None = None, **kw: object
) -> ApiClient:
    time = time or FakeTime()
    limiter = RateLimiter(RateLimit(1000, 60), monotonic=time.monotonic, sleep=time.sleep, learns_from_store=False)
    return ApiClient(
        platform="test",
        administration="acme",
        base_url="https://ledger.example/api",
        rate_limiter=limiter,
        transport=httpx.MockTransport(handler),
        sleep=time.sleep,
        retry=RetryPolicy(attempts=4, initial_wait=0.1, max_wait=1),
        **kw,  # type: ignore[arg-type]
    )


def sequence(
    *responses: httpx.Response | Exception,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_limiter_never_allows_more_than_the_limit_in_any_window() -> None:
    time = FakeTime()
    limiter = RateLimiter(RateLimit(5, 10), monotonic=time.monotonic, sleep=time.sleep)
    stamps = []
    for _ in range(17):
        limiter.acquire()
        stamps.append(time.now)
        time.now += 0.3
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 10]
        assert len(in_window) <= 5
    assert limiter.waited_seconds > 0


def test_limiter_counts_calls_of_an_earlier_process() -> None:
    time = FakeTime()
    limiter = RateLimiter(RateLimit(5, 10), monotonic=time.monotonic, sleep=time.sleep)
    limiter.record_past_calls(5, seconds_ago=4)
    limiter.acquire()
    assert sum(time.sleeps) == pytest.approx(6.1, abs=0.01)  # waits until those 5 leave the window


def test_pause_blocks_until_the_reset() -> None:
    time = FakeTime()
    limiter = RateLimiter(RateLimit(100, 10), monotonic=time.monotonic, sleep=time.sleep)
    limiter.pause_for(30)
    assert limiter.acquire() == pytest.approx(30)


def test_reset_headers_in_every_form() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    epoch = now.timestamp()
    assert reset_delay(str(int(epoch + 42)), now) == pytest.approx(42)  # Moneybird: epoch seconds
    assert reset_delay(str(int((epoch + 7) * 1000)), now) == pytest.approx(7)  # Exact: epoch ms
    assert reset_delay("12", now) == 12  # a plain delay
    assert reset_delay("soon", now) is None
    assert reset_delay(None, now) is None


def test_retries_5xx_and_timeouts_then_succeeds() -> None:
    handler, seen = sequence(
        httpx.Response(502),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"ok": True}),
    )
    client = client_for(handler)
    assert client.get_json("things.json", endpoint="things") == {"ok": True}
    assert len(seen) == 3
    assert client.api_calls() == {"things": 3}


def test_malformed_json_is_retried_for_reads() -> None:
    handler, seen = sequence(httpx.Response(200, content=b'[{"id": "1"'), httpx.Response(200, json=[]))
    assert client_for(handler).get_json("x.json", endpoint="x") == []
    assert len(seen) == 2


def test_gives_up_with_a_transient_error() -> None:
    handler, seen = sequence(httpx.Response(503))
    with pytest.raises(TransientError) as caught:
        client_for(handler).get_json("x.json", endpoint="x")
    assert len(seen) == 4
    assert not caught.value.outcome_unknown


def test_429_waits_for_the_epoch_reset_then_retries() -> None:
    time = FakeTime()
    reset = int(datetime.now(UTC).timestamp()) + 20
    handler, seen = sequence(
        httpx.Response(429, text="Retry later", headers={"Retry-After": str(reset), "RateLimit-Reset": str(reset)}),
        httpx.Response(200, json=[]),
    )
    client = client_for(handler, time)
    client.get_json("x.json", endpoint="x")
    assert len(seen) == 2
    assert 17 <= sum(time.sleeps) <= 21  # about 20 s, not 56 years


def test_429_that_does_not_end_raises_rate_limited() -> None:
    handler, _ = sequence(httpx.Response(429, text="<html>nginx</html>"))
    with pytest.raises(RateLimited):
        client_for(handler).get_json("x.json", endpoint="x")


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthError), (403, AuthError), (404, NotFound), (422, RequestRejected)]
)
def test_client_errors_are_not_retried(status: int, error: type[Exception]) -> None:
    handler, seen = sequence(httpx.Response(status, json={"error": "nope"}))
    with pytest.raises(error, match="nope"):
        client_for(handler).get_json("x.json", endpoint="x")
    assert len(seen) == 1


def test_a_post_that_may_have_arrived_is_not_repeated() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"), httpx.Response(201, json={"id": "1"}))
    with pytest.raises(TransientError) as caught:
        client_for(handler).post_json("notes.json", endpoint="notes", body={"note": "x"})
    assert len(seen) == 1
    assert caught.value.outcome_unknown


def test_a_post_that_never_left_is_repeated() -> None:
    handler, seen = sequence(httpx.ConnectError("refused"), httpx.Response(201, json={"id": "1"}))
    assert client_for(handler).post_json("notes.json", endpoint="notes", body={}) == {"id": "1"}
    assert len(seen) == 2


def test_request_body_and_headers() -> None:
    handler, seen = sequence(httpx.Response(200, json=[]))
    client_for(handler, headers={"Authorization": "Bearer abc"}).post_json(
        "sync.json", endpoint="sync", body={"ids": ["496081512294254171"]}, idempotent=True
    )
    request = seen[0]
    assert json.loads(request.content) == {"ids": ["496081512294254171"]}
    assert request.headers["Authorization"] == "Bearer abc"
    assert str(request.url) == "https://ledger.example/api/sync.json"


def test_urls_are_logged_without_secrets() -> None:
    register_secret("s3cr3t-token-value")
    url = "https://user:pw@ledger.example/api?api_token=abc&page=2&x=s3cr3t-token-value"
    redacted = redact_url(url)
    assert "pw" not in redacted and "abc" not in redacted and "s3cr3t" not in redacted
    assert f"api_token={MASK}" in redacted and "page=2" in redacted
