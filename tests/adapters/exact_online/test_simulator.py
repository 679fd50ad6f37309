"""The Exact Online simulator behaves like the documented API: OAuth, OData envelope and paging, filters,
rate limits, payment terms that split, sync and deletes, write-back, and the CLI.

Everything goes over real HTTP with httpx; time comes from a ManualClock plus `advance()`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.exact_online.odata import FilterError, compile_filter, own
from adapters.exact_online.simulator import ExactOnlineSimulator
from adapters.exact_online.simulator_data import (
    LINE_PAYABLE,
    LINE_RECEIVABLE,
    exact_date,
    generate_seed,
    load_seed,
    parse_exact_date,
    parse_exact_datetime,
)
from connector.clock import ManualClock
from tests.support.fixtures import vendor_payload

NOW = datetime(2026, 7, 15, 10, 0, 0, tzinfo=UTC)  # a summer Wednesday, 12:00 in Amsterdam
TODAY = date(2026, 7, 15)
DIV = 1234567
DIV2 = 7654321
ACME = "a58c29d9-ef92-40f1-b817-31b36990898c"
BAKKER = "11acd652-4496-48e0-a189-e0045cc206e3"
SUPPLIER = "3d8f75a8-ef72-4ef0-b868-e88d44e8115f"
ACME_MAIN = "d3d37654-e1d6-4d5e-a489-00ac7ccdc973"
BAKKER_PERSON = "5cb718a4-f1c8-4432-9d7f-daf2bc427889"
UNKNOWN = "00000000-1111-2222-3333-444444444444"
SUMMER_MS = 1782914400000  # 2026-07-01 12:00 UTC = 14:00 CEST, encoded as if UTC
WINTER_MS = 1768482000000  # 2026-01-15 12:00 UTC = 13:00 CET, encoded as if UTC
NEXT_MINUTE_MS = 1784109660000  # 2026-07-15 10:01:00 UTC
NEXT_MIDNIGHT_MS = 1784160000000  # 2026-07-16 00:00:00 UTC
OPEN_FIELDS = "HID,InvoiceNumber,Amount,Id,DueDate"


def seed() -> dict[str, Any]:
    return {
        "app": {"client_id": "b81cc4de-d192-400e-bcb4-09254394c52a", "client_secret": "s3cret"},
        "divisions": [
            {
                "Code": DIV,
                "Description": "Hoofdkantoor B.V.",
                "accounts": [
                    {
                        "ID": ACME, "Code": 25, "Name": "Acme Installatietechniek B.V.",
                        "Email": "administratie@acme.example.nl", "ChamberOfCommerce": "12345678",
                        "VATNumber": "NL123456789B01", "Language": "NL", "Country": "NL ",
                        "Modified": "2026-07-01T12:00:00Z", "Created": "2025-01-01T09:00:00Z",
                    },
                    {"ID": BAKKER, "Code": "26", "Name": "Jan Bakker", "Modified": "2026-01-15T12:00:00Z",
                     "Created": "2025-02-01T09:00:00Z"},
                    {"ID": SUPPLIER, "Code": 900, "Name": "Groothandel B.V.", "IsSales": False, "IsSupplier": True},
                ],
                "contacts": [
                    {"ID": ACME_MAIN, "Account": ACME, "FirstName": "Alice", "LastName": "de Vries",
                     "Email": "alice@acme.example.nl", "IsMainContact": True},
                    {"ID": BAKKER_PERSON, "Account": BAKKER, "FirstName": "Jan", "LastName": "Bakker",
                     "Email": "jan@bakker.example.nl", "IsMainContact": True},
                ],
                "terms": [
                    {"Account": ACME, "InvoiceNumber": 100, "AmountDC": "121.00", "InvoiceDate": "2026-06-01",
                     "DueDate": "2026-06-15", "YourRef": "PO-1"},
                    {"Account": ACME, "InvoiceNumber": 101, "AmountDC": 50, "InvoiceDate": "2026-06-10",
                     "DueDate": "/Date(1782003600000)/"},
                    {"Account": ACME, "InvoiceNumber": 101, "AmountDC": 50.0, "InvoiceDate": "2026-06-10",
                     "DueDate": "2026-07-20"},
                    {"Account": BAKKER, "InvoiceNumber": 102, "AmountDC": "30.25", "DueDate": "2026-05-01",
                     "Status": 50, "LastPaymentDate": "2026-05-03", "AccountContact": BAKKER_PERSON},
                    {"Account": SUPPLIER, "InvoiceNumber": 5001, "AmountDC": "999.99", "DueDate": "2026-08-01",
                     "LineType": 22},
                ],
            },
            {"Code": DIV2, "Description": "Tweede B.V."},
        ],
    }  # fmt: skip


def make_sim(**options: Any) -> ExactOnlineSimulator:
    options.setdefault("rate_limit_minutely", 10_000)
    options.setdefault("rate_limit_daily", 100_000)
    return ExactOnlineSimulator(seed(), clock=ManualClock(NOW), **options)


@pytest.fixture
def sim() -> Iterator[ExactOnlineSimulator]:
    with make_sim() as simulator:
        yield simulator


def client_for(simulator: ExactOnlineSimulator) -> httpx.Client:
    token = simulator.issue_tokens()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return httpx.Client(base_url=simulator.base_url, headers=headers, timeout=10)


@pytest.fixture
def api(sim: ExactOnlineSimulator) -> Iterator[httpx.Client]:
    with client_for(sim) as client:
        yield client


def results(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["d"]["results"]
    return rows


def error_value(response: httpx.Response) -> str:
    value: str = response.json()["error"]["message"]["value"]
    return value


def follow(api: httpx.Client, url: str, params: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Read every page, following `__next` verbatim; returns the rows and the number of pages."""
    response = api.get(url, params=params)
    rows, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()["d"]
        rows += body["results"]
        pages += 1
        if "__next" not in body:
            return rows, pages
        response = api.get(body["__next"])


def path(resource: str, division: int = DIV) -> str:
    return f"/api/v1/{division}/{resource}"


def token_post(simulator: ExactOnlineSimulator, **form: str) -> httpx.Response:
    data = {"client_id": simulator.client_id, "client_secret": simulator.client_secret, **form}
    return httpx.post(f"{simulator.base_url}/api/oauth2/token", data=data)


# --- envelope, paging, $select, $top -------------------------------------------------------------------


def test_envelope_metadata_and_exact_value_encodings(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    rows = results(api.get(path("read/financial/ReceivablesList")))
    assert [row["InvoiceNumber"] for row in rows] == [100, 101, 101]  # open receivables only, by HID
    first = rows[0]
    assert first["__metadata"] == {
        "uri": f"{sim.base_url}/api/v1/{DIV}/read/financial/ReceivablesList({first['HID']}L)",
        "type": "Exact.Web.Api.Models.Financial.ReceivablesList",
    }
    assert first["Amount"] == 121 and isinstance(first["Amount"], int | float)  # a number, never a string
    assert first["AccountId"] == ACME and first["AccountCode"] == "                25"
    assert first["AccountName"] == "Acme Installatietechniek B.V." and first["YourRef"] == "PO-1"
    assert first["DueDate"] == "/Date(1781481600000)/"  # date-only: midnight UTC of 2026-06-15
    assert first["CurrencyCode"] == "EUR" and first["AmountInTransit"] == 0 and first["JournalCode"] == "70"
    assert rows[1]["DueDate"] == "/Date(1782000000000)/"  # given as 01:00 that day: the date only
    assert all(row["Id"] == row["Id"].lower() and len(row["Id"]) == 36 for row in rows)


@pytest.mark.parametrize(("resource", "params", "page", "expected_pages"), [
    ("read/financial/ReceivablesList", {}, 60, 3),
    ("sync/Cashflow/PaymentTerms", {"$select": "ID,Timestamp,LineType", "$filter": "Timestamp gt 1L"}, 1000, 3),
])  # fmt: skip
def test_paging_follows_next_verbatim(resource: str, params: dict[str, str], page: int, expected_pages: int) -> None:
    simulator = ExactOnlineSimulator.generate(
        terms=2 * page + 10, accounts=40, seed=3, today=TODAY, clock=ManualClock(NOW), rate_limit_minutely=1000
    )
    with simulator, client_for(simulator) as api:
        first = api.get(path(resource, simulator.division), params=params).json()["d"]
        assert len(first["results"]) == page
        query = parse_qs(urlsplit(first["__next"]).query)
        assert first["__next"].startswith(f"{simulator.base_url}/api/v1/{simulator.division}/{resource}?")
        assert query["$skiptoken"][0].endswith("L")
        for key in ("$select", "$filter"):
            assert query.get(key) == ([params[key]] if key in params else None)
        rows, pages = follow(api, path(resource, simulator.division), params)
    assert pages == expected_pages
    keys = [row["__metadata"]["uri"] for row in rows]
    assert len(keys) == len(set(keys))
    if resource.startswith("read"):
        assert len(rows) == 2 * page + 10
    else:
        assert {row["LineType"] for row in rows} == {LINE_RECEIVABLE, LINE_PAYABLE}  # payables are in sync
        stamps = [row["Timestamp"] for row in rows]
        assert stamps == sorted(stamps)


def test_top_caps_the_page_and_next_carries_the_rest() -> None:
    simulator = ExactOnlineSimulator.generate(terms=150, accounts=30, seed=5, today=TODAY, clock=ManualClock(NOW))
    with simulator, client_for(simulator) as api:
        body = api.get(path("read/financial/ReceivablesList", simulator.division), params={"$top": "100"}).json()["d"]
        assert len(body["results"]) == 60 and "$top=40" in body["__next"]
        rest = api.get(body["__next"]).json()["d"]
        assert len(rest["results"]) == 40 and "__next" not in rest
        small = api.get(path("read/financial/ReceivablesList", simulator.division), params={"$top": "5"})
        assert len(results(small)) == 5 and "__next" not in small.json()["d"]
        skip = api.get(path("read/financial/ReceivablesList", simulator.division), params={"$skip": "60"})
        assert skip.status_code == 400


def test_select_limits_fields_and_unknown_fields_fail(api: httpx.Client) -> None:
    rows = results(api.get(path("read/financial/ReceivablesList"), params={"$select": "InvoiceNumber,Amount"}))
    assert set(rows[0]) == {"__metadata", "InvoiceNumber", "Amount"}
    bad = api.get(path("read/financial/ReceivablesList"), params={"$select": "InvoiceNumber,OutstandingAmountDC"})
    assert bad.status_code == 400 and "OutstandingAmountDC" in error_value(bad)
    assert set(bad.json()) == {"error"} and set(bad.json()["error"]) == {"code", "message"}


def test_mandatory_select_and_filter_rules(api: httpx.Client) -> None:
    no_select = api.get(path("sync/Cashflow/PaymentTerms"), params={"$filter": "Timestamp gt 1"})
    assert no_select.status_code == 400
    assert error_value(no_select) == "Please add a $select or a $top=1 statement to the query string."
    assert len(results(api.get(path("sync/Cashflow/PaymentTerms"), params={"$top": "1"}))) == 1
    other_field = api.get(path("sync/Cashflow/PaymentTerms"), params={"$select": "ID", "$filter": "LineType eq 20"})
    assert other_field.status_code == 400
    no_filter = api.get(path("cashflow/Receivables"))
    assert no_filter.status_code == 400
    assert error_value(no_filter).startswith("A GET request for this endpoint must have a $filter parameter")
    not_mandatory = api.get(path("crm/Accounts"), params={"$filter": "Modified ge datetime'2026-01-01T00:00:00'"})
    assert not_mandatory.status_code == 400
    by_code = api.get(path("crm/Accounts"), params={"$filter": "Code eq '                25'"})
    assert [row["ID"] for row in results(by_code)] == [ACME]
    unknown = api.get(path("cashflow/Receivables"), params={"$filter": "Nonsense eq 1"})
    assert unknown.status_code == 400 and "Nonsense" in error_value(unknown)


# --- $filter ---------------------------------------------------------------------------------------------


def test_filter_grammar_over_http(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    def numbers(resource: str, text: str, select: str = "InvoiceNumber") -> list[int]:
        rows = results(api.get(path(resource), params={"$filter": text, "$select": select}))
        return sorted(row["InvoiceNumber"] for row in rows)

    assert numbers("cashflow/Receivables", "InvoiceNumber eq 100 or InvoiceNumber eq 102 or InvoiceNumber eq 7") == [
        100,
        102,
    ]
    assert numbers("cashflow/Receivables", f"Account eq guid'{ACME.upper()}' and (Status eq 20 or Status eq 50)") == [
        100,
        101,
        101,
    ]
    assert numbers("cashflow/Receivables", "IsFullyPaid eq true") == [102]
    assert numbers("read/financial/ReceivablesList", "DueDate lt datetime'2026-07-01T00:00:00'") == [100, 101]
    wrong_type = api.get(path("cashflow/Receivables"), params={"$filter": f"Account eq '{ACME}'"})
    assert wrong_type.status_code == 400
    syntax = api.get(path("cashflow/Receivables"), params={"$filter": "(InvoiceNumber eq 100"})
    assert syntax.status_code == 400 and error_value(syntax) == "Bad Request - Error in query syntax."
    rows = results(
        api.get(path("sync/Cashflow/PaymentTerms"), params={"$filter": "Timestamp gt 5L", "$select": "Timestamp"})
    )
    assert len(rows) == 5
    newest = max(row["Timestamp"] for row in rows)
    after = api.get(
        path("sync/Cashflow/PaymentTerms"), params={"$filter": f"Timestamp gt {newest}L", "$select": "Timestamp"}
    )
    assert results(after) == []


FIELDS = {
    name: own(kind, name)
    for name, kind in {
        "ID": "guid", "Code": "str", "Name": "str", "Number": "int", "Amount": "decimal", "Paid": "bool",
        "Due": "datetime", "Stamp": "datetime",
    }.items()
}  # fmt: skip
ROW = {
    "ID": ACME, "Code": "                25", "Name": "O'Brien and Sons", "Number": 7, "Amount": Decimal("12.50"),
    "Paid": False, "Due": date(2026, 7, 1), "Stamp": datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
}  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [
    ("Number eq 7", True),
    ("Number eq 7L and Amount gt 12", True),
    ("Number eq 1 or Number eq 2 or Number eq 7", True),
    ("Number eq 1 or Number eq 2 and Number eq 7", False),  # and binds tighter than or
    ("(Number eq 1 or Number eq 7) and Paid eq false", True),
    ("not (Number eq 7)", False),
    (f"ID eq guid'{ACME.upper()}'", True),
    ("Name eq 'O''Brien and Sons'", True),
    ("Name eq 'o''brien AND sons  '", True),  # SQL Server collation: case and trailing blanks ignored
    ("trim(Code) eq '25'", True),
    ("Code eq '25'", False),
    ("substringof('brien', Name) and startswith(Name, 'O''B')", True),
    ("Due eq datetime'2026-07-01T00:00:00'", True),
    ("Stamp gt datetime'2026-07-01T13:59:59' and Stamp lt datetime'2026-07-01T14:00:01'", True),  # Amsterdam
    ("Amount ge 12.5M", True),
    ("Name ne null", True),
])  # fmt: skip
def test_compile_filter_semantics(text: str, expected: bool) -> None:
    compiled = compile_filter(text, FIELDS)
    assert compiled.test(None, ROW) is expected  # type: ignore[arg-type]  # own() fields ignore the division


@pytest.mark.parametrize("text", [
    "Number eq", "Number eq 7 and", "(Number eq 7", "Number eq 7)", "Number eq 'seven'", f"ID eq '{ACME}'",
    "Missing eq 1", "Number gt null", "guid'nope' eq ID", "Number === 7", "frobnicate(Name) eq 'x'",
])  # fmt: skip
def test_compile_filter_refuses(text: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(text, FIELDS)


def test_compile_filter_reports_fields_and_timestamp_floor() -> None:
    fields = {"Timestamp": own("int", "Timestamp"), "ID": own("guid", "ID")}
    compiled = compile_filter(f"Timestamp gt 41L and ID ne guid'{ACME}'", fields)
    assert compiled.fields == {"Timestamp", "ID"} and compiled.timestamp_floor == 41
    assert compile_filter("Timestamp ge 42", fields).timestamp_floor == 41
    assert compile_filter("Timestamp gt 1 or Timestamp lt 0", fields).timestamp_floor is None


# --- dates -----------------------------------------------------------------------------------------------


def test_modified_is_amsterdam_wall_clock_encoded_as_utc(api: httpx.Client) -> None:
    rows = results(api.get(path("sync/CRM/Accounts"), params={"$select": "ID,Modified,Created"}))
    modified = {row["ID"]: row["Modified"] for row in rows}
    assert modified[ACME] == f"/Date({SUMMER_MS})/"  # CEST: +2 h
    assert modified[BAKKER] == f"/Date({WINTER_MS})/"  # CET: +1 h
    assert exact_date(datetime(2026, 7, 1, 12, tzinfo=UTC)) == f"/Date({SUMMER_MS})/"
    assert parse_exact_datetime(f"/Date({SUMMER_MS})/") == datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert parse_exact_date("/Date(1781481600000)/") == date(2026, 6, 15)


# --- OAuth -----------------------------------------------------------------------------------------------


def test_authorization_code_flow_and_single_use_code(sim: ExactOnlineSimulator) -> None:
    auth = httpx.get(
        f"{sim.base_url}/api/oauth2/auth",
        params={"client_id": sim.client_id, "redirect_uri": sim.redirect_uri, "response_type": "code", "state": "xyz"},
    )
    assert auth.status_code == 302
    location = auth.headers["Location"]
    assert location.startswith(sim.redirect_uri + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    exchange = token_post(sim, grant_type="authorization_code", code=code, redirect_uri=sim.redirect_uri)
    assert exchange.status_code == 200, exchange.text
    body = exchange.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["expires_in"] == "600" and body["token_type"] == "bearer"
    assert body["access_token"].startswith("AAEA") and body["refresh_token"].startswith("__1P!I")
    assert body["refresh_token"] == sim.refresh_token
    again = token_post(sim, grant_type="authorization_code", code=code, redirect_uri=sim.redirect_uri)
    assert again.status_code == 400 and again.json() == {"error": "invalid_request"}
    me = httpx.get(f"{sim.base_url}/api/v1/current/Me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    wrong_client = httpx.get(
        f"{sim.base_url}/api/oauth2/auth",
        params={"client_id": UNKNOWN, "redirect_uri": sim.redirect_uri, "response_type": "code"},
    )
    assert wrong_client.status_code == 400
    wrong_redirect = httpx.get(
        f"{sim.base_url}/api/oauth2/auth",
        params={"client_id": sim.client_id, "redirect_uri": "http://evil.example/cb", "response_type": "code"},
    )
    assert wrong_redirect.status_code == 400
    late = parse_qs(urlsplit(httpx.get(auth.url).headers["Location"]).query)["code"][0]
    sim.advance(181)
    expired = token_post(sim, grant_type="authorization_code", code=late, redirect_uri=sim.redirect_uri)
    assert expired.status_code == 400


def test_refresh_rotation_too_early_and_old_tokens(sim: ExactOnlineSimulator) -> None:
    first = sim.issue_tokens()
    too_early = token_post(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert too_early.status_code == 400
    assert too_early.json() == {
        "error": "access_denied",
        "error_description": "Rate limit exceeded: access_token not expired",
    }
    assert too_early.headers["Reason"] == "TooEarlyToRefreshTokens"
    sim.advance(570)
    rotated = token_post(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"] and second["refresh_token"] == sim.refresh_token
    assert sim.token_refreshes == 1
    old = token_post(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert old.status_code == 401
    assert old.json() == {"error": "unauthorized_client", "error_description": "Old refresh token used."}
    unknown = token_post(sim, grant_type="refresh_token", refresh_token="__1P!Inever-issued")
    assert unknown.status_code == 400 and unknown.json() == {"error": "invalid_request"}
    wrong_secret = httpx.post(
        f"{sim.base_url}/api/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": sim.refresh_token, "client_id": sim.client_id,
              "client_secret": "wrong"},
    )  # fmt: skip
    assert wrong_secret.status_code == 400 and wrong_secret.json() == {"error": "invalid_client"}
    me = f"{sim.base_url}/api/v1/current/Me"
    still = httpx.get(me, headers={"Authorization": f"Bearer {first['access_token']}"})
    assert still.status_code == 200  # an access token lives until its own expiry, rotation or not
    sim.advance(31)  # the first access token is 601 s old now
    expired = httpx.get(me, headers={"Authorization": f"Bearer {first['access_token']}"})
    assert expired.status_code == 401
    assert expired.json() == {"error": {"code": "", "message": {"lang": "", "value": "Access token expired"}}}
    assert "access token expired" in expired.headers["WWW-Authenticate"]
    assert httpx.get(me, headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 200
    invalid = httpx.get(me, headers={"Authorization": "Bearer AAEAnope"})
    assert invalid.status_code == 401 and error_value(invalid) == "Access token is invalid"
    consent = sim.issue_tokens()  # a new consent kills the whole chain
    dead = token_post(sim, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert dead.status_code == 401 and consent["refresh_token"] == sim.refresh_token
    logged = [entry for entry in sim.requests() if entry["path"] == "/api/oauth2/token"]
    assert len(logged) == 6 and all(entry["method"] == "POST" for entry in logged)


def test_expired_access_token_after_advance(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    assert api.get("/api/v1/current/Me").status_code == 200
    sim.advance(601)
    response = api.get("/api/v1/current/Me")
    assert response.status_code == 401 and error_value(response) == "Access token expired"
    assert "X-RateLimit-Minutely-Remaining" in response.headers


def test_clock_control_endpoint_moves_time(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    moved = httpx.post(f"{sim.base_url}/_simulator/clock", json={"advance_seconds": 601})
    assert moved.status_code == 200 and moved.json()["now"].startswith("2026-07-15T10:10:01")
    assert api.get("/api/v1/current/Me").status_code == 401
    assert httpx.post(f"{sim.base_url}/_simulator/clock", json={"advance_seconds": "x"}).status_code == 400


# --- rate limits -----------------------------------------------------------------------------------------


def test_rate_headers_decrease_and_token_calls_are_free() -> None:
    with make_sim(rate_limit_minutely=60, rate_limit_daily=5000) as simulator, client_for(simulator) as api:
        remaining = []
        for _ in range(3):
            response = api.get("/api/v1/current/Me")
            assert response.headers["X-RateLimit-Limit"] == "5000"
            assert response.headers["X-RateLimit-Minutely-Limit"] == "60"
            assert response.headers["X-RateLimit-Reset"] == str(NEXT_MIDNIGHT_MS)
            assert response.headers["X-RateLimit-Minutely-Reset"] == str(NEXT_MINUTE_MS)
            remaining.append(int(response.headers["X-RateLimit-Minutely-Remaining"]))
        assert remaining == [59, 58, 57]
        simulator.advance(570)
        assert token_post(simulator, grant_type="refresh_token", refresh_token=simulator.refresh_token).is_success
        after = api.get("/api/v1/current/Me")  # still minute 10:09 of a fresh window
        assert after.headers["X-RateLimit-Minutely-Remaining"] == "59"
        assert after.headers["X-RateLimit-Remaining"] == "4996"
        missing = api.get(path("crm/Accounts(guid'" + UNKNOWN + "')"))
        assert missing.status_code == 404 and "X-RateLimit-Remaining" in missing.headers


def test_minutely_and_daily_limits_answer_429_with_only_their_headers() -> None:
    with make_sim(rate_limit_minutely=3, rate_limit_daily=5) as simulator, client_for(simulator) as api:
        for _ in range(3):
            assert api.get("/api/v1/current/Me").status_code == 200
        limited = api.get("/api/v1/current/Me")
        assert limited.status_code == 429 and error_value(limited) == "Too many requests"
        rate_headers = {name.lower() for name in limited.headers if name.lower().startswith("x-ratelimit")}
        assert rate_headers == {
            "x-ratelimit-minutely-limit",
            "x-ratelimit-minutely-remaining",
            "x-ratelimit-minutely-reset",
        }
        assert limited.headers["X-RateLimit-Minutely-Reset"] == str(NEXT_MINUTE_MS)
        assert api.get(path("read/financial/ReceivablesList", DIV2)).status_code == 200  # per division
        simulator.advance(60)
        assert api.get("/api/v1/current/Me").status_code == 200
        assert api.get("/api/v1/current/Me").status_code == 200
        daily = api.get("/api/v1/current/Me")
        assert daily.status_code == 429
        assert {name.lower() for name in daily.headers if name.lower().startswith("x-ratelimit")} == {
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        }
        assert daily.headers["X-RateLimit-Reset"] == str(NEXT_MIDNIGHT_MS)


def test_more_than_ten_errors_block_the_endpoint_for_an_hour(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    for _ in range(11):
        assert api.get(path(f"crm/Accounts(guid'{UNKNOWN}')")).status_code == 404
    blocked = api.get(path(f"crm/Accounts(guid'{ACME}')"))  # the same endpoint, whatever the key
    assert blocked.status_code == 429 and error_value(blocked) == "API rate limit exceeded"
    assert not [name for name in blocked.headers if name.lower().startswith("x-ratelimit")]
    assert api.get(path(f"crm/Contacts(guid'{ACME_MAIN}')")).status_code == 200  # other endpoints are fine
    sim.advance(3601)
    with client_for(sim) as fresh:  # the first access token has expired by now
        assert fresh.get(path(f"crm/Accounts(guid'{ACME}')")).status_code == 200


def test_faults_keep_exacts_shapes(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    sim.set_faults("500:1.0")
    failed = api.get("/api/v1/current/Me")
    assert failed.status_code == 500 and error_value(failed).startswith("A problem has occurred.")
    assert "X-RateLimit-Remaining" in failed.headers
    sim.set_faults("429:1.0")
    throttled = api.get("/api/v1/current/Me")
    assert throttled.status_code == 429 and "X-RateLimit-Minutely-Reset" in throttled.headers
    sim.set_faults(None)
    assert api.get("/api/v1/current/Me").status_code == 200


# --- divisions and Me --------------------------------------------------------------------------------------


def test_divisions_me_and_wrong_division(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    me = results(api.get("/api/v1/current/Me"))
    assert me[0]["CurrentDivision"] == DIV == sim.division
    assert results(api.get("/api/v1/current/Me", params={"$select": "CurrentDivision"}))[0] == {
        "__metadata": me[0]["__metadata"],
        "CurrentDivision": DIV,
    }
    divisions = results(api.get(path("system/Divisions", 999)))  # the path's division is not checked here
    assert [(row["Code"], row["Current"], row["Description"]) for row in divisions] == [
        (DIV, True, "Hoofdkantoor B.V."),
        (DIV2, False, "Tweede B.V."),
    ]
    assert len(results(api.get(path("system/AllDivisions")))) == 2
    wrong = api.get(path("read/financial/ReceivablesList", 999))
    assert wrong.status_code == 403 and error_value(wrong) == "Forbidden - WrongDivision"
    assert wrong.headers["Reason"] == "NoDivisionAccess"
    assert results(api.get(path("read/financial/ReceivablesList", DIV2))) == []


def test_row_shapes_match_the_recorded_payloads(api: httpx.Client) -> None:
    def recorded(name: str) -> dict[str, Any]:
        data: dict[str, Any] = vendor_payload("exact_online", name)["d"]
        return data["results"][0] if "results" in data else data

    account = api.get(path(f"crm/Accounts(guid'{ACME}')")).json()["d"]
    contact = api.get(path(f"crm/Contacts(guid'{ACME_MAIN}')")).json()["d"]
    division = results(api.get(path("system/Divisions")))[0]
    me = results(api.get("/api/v1/current/Me"))[0]
    for ours, name in (
        (account, "crm_account_single.nango-2026.json"),
        (contact, "crm_contact_single.nango-2026.json"),
        (division, "system_divisions.nango-2026.json"),
        (me, "me_current.nango-2026.json"),
    ):
        theirs = recorded(name)
        assert set(ours) <= set(theirs), (name, set(ours) - set(theirs))
        assert ours["__metadata"]["type"] == theirs["__metadata"]["type"]
        for key, value in ours.items():
            if value is not None and theirs[key] is not None and key != "__metadata":
                assert type(value) is type(theirs[key]), (name, key, value, theirs[key])
    assert set(division) == set(recorded("system_divisions.nango-2026.json"))
    assert set(me) == set(recorded("me_current.nango-2026.json"))
    assert account["Code"] == "                25" and len(account["Code"]) == 18
    assert account["Language"] == "NL        " and account["Country"] == "NL "
    assert account["MainContact"] == ACME_MAIN and contact["IsMainContact"] is True
    sync_account = results(api.get(path("sync/CRM/Accounts"), params={"$top": "1"}))[0]
    assert set(sync_account) == set(account) | {"Timestamp"}


# --- payments, invoices, deletes ----------------------------------------------------------------------------


def test_partial_payment_splits_the_term_and_moves_timestamps(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    before, mark = sim.open_terms(100)[0], sim.last_timestamp
    sim.add_payment(100, Decimal("21.00"))
    [remainder] = sim.open_terms(100)
    assert remainder["AmountDC"] == Decimal("100.00") and remainder["Status"] == 20
    assert remainder["ID"] != before["ID"] and remainder["HID"] > before["HID"]
    old = next(term for term in sim.terms(100) if term["ID"] == before["ID"])
    assert (old["AmountDC"], old["Status"], old["IsFullyPaid"]) == (Decimal("21.00"), 50, True)
    assert mark < old["Timestamp"] < remainder["Timestamp"] == sim.last_timestamp
    assert old["Modified"] == NOW and old["LastPaymentDate"] == TODAY
    listed = results(api.get(path("read/financial/ReceivablesList"), params={"$filter": "InvoiceNumber eq 100"}))
    assert [(row["Id"], row["Amount"]) for row in listed] == [(remainder["ID"], 100)]
    changed = results(
        api.get(
            path("sync/Cashflow/PaymentTerms"),
            params={"$filter": f"Timestamp gt {mark}L", "$select": "ID,Status,IsFullyPaid,AmountDC"},
        )
    )
    assert [(row["ID"], row["Status"], row["AmountDC"]) for row in changed] == [
        (old["ID"], 50, 21),
        (remainder["ID"], 20, 100),
    ]
    paid = httpx.post(f"{sim.base_url}/_simulator/payments", json={"invoice_number": 100, "amount": "100.00"})
    assert paid.status_code == 200 and paid.json() == []
    assert results(api.get(path("read/financial/ReceivablesList"), params={"$filter": "InvoiceNumber eq 100"})) == []
    statuses = results(api.get(path("cashflow/Receivables"), params={"$filter": "InvoiceNumber eq 100"}))
    assert sorted(row["Status"] for row in statuses) == [50, 50]
    settled = httpx.post(f"{sim.base_url}/_simulator/payments", json={"invoice_number": 100, "amount": "1"})
    assert settled.status_code == 404
    assert not [entry for entry in sim.requests() if entry["path"].startswith("/_simulator/")]  # never logged


def test_payment_over_several_terms_pays_the_oldest_first(sim: ExactOnlineSimulator) -> None:
    first, second = sim.open_terms(101)
    answer = httpx.post(f"{sim.base_url}/_simulator/payments", json={"invoice_number": 101, "amount": "70"})
    assert answer.status_code == 200
    [left] = answer.json()
    assert Decimal(left["AmountDC"]) == 30 and left["DueDate"] == second["DueDate"].isoformat()
    assert [term["ID"] for term in sim.open_terms(101)] == [left["ID"]]
    assert first["ID"] not in {term["ID"] for term in sim.open_terms()}


def test_add_and_delete_invoice_show_in_sync_and_deleted(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    number = sim.add_invoice(BAKKER, Decimal("100.00"), date(2026, 8, 1), terms=3)
    terms = sim.open_terms(number)
    assert [term["AmountDC"] for term in terms] == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    assert [term["DueDate"] for term in terms] == [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]
    assert number in sim.open_invoice_numbers()
    mark = max(term["Timestamp"] for term in terms)
    sim.delete_invoice(number)
    assert number not in sim.open_invoice_numbers()
    deleted = results(
        api.get(
            path("sync/Deleted"),
            params={"$filter": f"Timestamp gt {mark}L", "$select": "EntityKey,EntityType,Timestamp,DeletedDate"},
        )
    )
    assert {row["EntityKey"] for row in deleted} == {term["ID"] for term in terms}
    assert {row["EntityType"] for row in deleted} == {10}
    assert all(row["Timestamp"] > mark for row in deleted)
    with pytest.raises(KeyError):
        sim.delete_invoice(number)


def test_sync_timestamp_finds_the_start_for_a_moment(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    [row] = results(
        api.get(
            path("read/sync/Sync/SyncTimestamp"),
            params={"modified": "datetime'2026-02-01T00:00:00'", "endPoint": "'Accounts'"},
        )
    )
    assert row["API"] == "Accounts" and row["Modified"] == "/Date(1769904000000)/"
    start = row["TimeStampAsBigInt"]
    later = results(
        api.get(path("sync/CRM/Accounts"), params={"$filter": f"Timestamp gt {start}L", "$select": "ID,Timestamp"})
    )
    assert BAKKER not in {r["ID"] for r in later} and ACME in {r["ID"] for r in later}  # winter vs summer
    bad = api.get(path("read/sync/Sync/SyncTimestamp"), params={"modified": "datetime'2026-02-01T00:00:00'"})
    assert bad.status_code == 400


# --- write-back ---------------------------------------------------------------------------------------------


def test_communication_notes_post_get_and_unknown_accounts_dropped(
    sim: ExactOnlineSimulator, api: httpx.Client
) -> None:
    created = api.post(
        path("activities/CommunicationNotes"),
        json={"Account": ACME, "Subject": "Herinnering 1 verstuurd", "Notes": "Factuur 100", "Contact": ACME_MAIN},
    )
    assert created.status_code == 201
    note = created.json()["d"]
    assert note["Account"] == ACME and note["Subject"] == "Herinnering 1 verstuurd" and note["Contact"] == ACME_MAIN
    assert note["__metadata"]["type"] == "Exact.Web.Api.Models.Activities.CommunicationNote"
    assert note["Date"] == note["Created"] == exact_date(NOW)
    found = results(api.get(path("activities/CommunicationNotes"), params={"$filter": f"Account eq guid'{ACME}'"}))
    assert [row["ID"] for row in found] == [note["ID"]]
    dropped = api.post(path("activities/CommunicationNotes"), json={"Account": UNKNOWN, "Subject": "Elders"})
    assert dropped.status_code == 201 and dropped.json()["d"]["Account"] is None
    missing = api.post(path("activities/CommunicationNotes"), json={"Account": ACME})
    assert missing.status_code == 400 and error_value(missing) == "Mandatory: Subject"
    assert [n["Subject"] for n in sim.notes(ACME)] == ["Herinnering 1 verstuurd"] and len(sim.notes()) == 2


def test_tasks_post_only(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    created = api.post(
        path("activities/Tasks"),
        json={"Account": BAKKER, "Description": "Bellen over factuur 102", "ActionDate": "2026-07-20", "TaskType": 1},
    )
    assert created.status_code == 201
    task = created.json()["d"]
    assert task["ActionDate"] == "/Date(1784505600000)/" and task["TaskTypeDescription"] == "Call"
    assert len(sim.tasks(BAKKER)) == 1
    assert api.put(path(f"activities/Tasks(guid'{task['ID']}')"), json={"Notes": "x"}).status_code == 405
    assert api.delete(path(f"activities/Tasks(guid'{task['ID']}')")).status_code == 405
    assert api.post(path("activities/Tasks"), json={"Account": BAKKER}).status_code == 400


def test_put_account_writes_the_writable_fields_only(sim: ExactOnlineSimulator, api: httpx.Client) -> None:
    before = sim.account(ACME)
    response = api.put(
        path(f"crm/Accounts(guid'{ACME}')"),
        json={"Remarks": "Aanmaning 2 verstuurd", "Blocked": True, "Name": "Ignored", "Language": "EN"},
    )
    assert response.status_code == 204 and response.content == b""
    after = sim.account(ACME)
    assert (after["Remarks"], after["Blocked"], after["Name"], after["Language"]) == (
        "Aanmaning 2 verstuurd",
        True,
        before["Name"],
        "EN        ",
    )
    assert after["Timestamp"] > before["Timestamp"] and after["Modified"] == NOW
    assert api.put(path(f"crm/Accounts(guid'{UNKNOWN}')"), json={"Remarks": "x"}).status_code == 404
    assert api.put(path(f"crm/Accounts(guid'{ACME}')"), json={"Blocked": "yes"}).status_code == 400
    sim.update_contact(ACME_MAIN, LastName="Jansen")
    assert sim.contact(ACME_MAIN)["FullName"] == "Alice Jansen"


# --- data ---------------------------------------------------------------------------------------------------


def test_generated_seeds_are_deterministic_and_varied() -> None:
    data = generate_seed(terms=400, accounts=120, seed=11, today=TODAY)
    assert data == generate_seed(terms=400, accounts=120, seed=11, today=TODAY)
    assert data != generate_seed(terms=400, accounts=120, seed=12, today=TODAY)
    loaded = load_seed(data, now=NOW, today=TODAY).divisions[0]
    assert len(loaded.open_by_hid) == 400
    accounts = list(loaded.accounts.values())
    sales = [account for account in accounts if account["IsSales"]]
    assert any(account["IsSupplier"] and not account["IsSales"] for account in accounts)
    assert any(account["ChamberOfCommerce"] is None for account in sales)
    assert 0.45 < sum(1 for account in sales if account["Email"]) / len(sales) < 0.8
    main_only = [
        account
        for account in sales
        if not account["Email"] and loaded.contacts[account["MainContact"]]["Email"] is not None
    ]
    assert len(main_only) > len(sales) // 6
    terms = list(loaded.terms.values())
    payables = [term for term in terms if term["LineType"] == LINE_PAYABLE]
    assert 0 < len(payables) < len(terms) // 20
    per_invoice: dict[int, int] = {}
    for _, term in loaded.open_by_hid.after(None):
        per_invoice[term["InvoiceNumber"]] = per_invoice.get(term["InvoiceNumber"], 0) + 1
    assert 0.05 < sum(1 for n in per_invoice.values() if n > 1) / len(per_invoice) < 0.3
    dues = [term["DueDate"] for _, term in loaded.open_by_hid.after(None)]
    assert min(dues) >= date(2026, 3, 17) and max(dues) <= date(2026, 8, 14)
    assert all(term["Modified"] <= NOW for term in terms)
    assert len({account["Code"] for account in accounts}) == len(accounts)


def test_seed_defaults_and_direct_helpers(sim: ExactOnlineSimulator) -> None:
    assert sim.client_id == "b81cc4de-d192-400e-bcb4-09254394c52a" and sim.client_secret == "s3cret"
    assert sim.redirect_uri == "http://127.0.0.1:8765/callback" and sim.division == DIV
    assert sim.account_ids() == [ACME, BAKKER, SUPPLIER]
    assert sim.open_invoice_numbers() == [100, 101]
    term = sim.open_terms(100)[0]
    assert term["AmountDC"] == Decimal("121.00") and term["InvoiceDate"] == date(2026, 6, 1)
    assert term["LineType"] == 20 and term["Status"] == 20 and term["Currency"] == "EUR"
    assert sim.account(BAKKER)["Code"] == "                26"
    sim.update_account(BAKKER, Email="jan@example.nl")
    assert sim.account(BAKKER)["Email"] == "jan@example.nl"
    assert any("division 1234567" in line for line in sim.summary_lines())


def test_a_seeded_refresh_token_can_be_used_at_once() -> None:
    data = {**seed(), "refresh_token": "__1P!Ifrom-the-seed"}
    with ExactOnlineSimulator(data, clock=ManualClock(NOW)) as simulator:
        assert simulator.refresh_token == "__1P!Ifrom-the-seed"
        response = token_post(simulator, grant_type="refresh_token", refresh_token="__1P!Ifrom-the-seed")
        assert response.status_code == 200 and simulator.token_refreshes == 1
        again = token_post(simulator, grant_type="refresh_token", refresh_token=simulator.refresh_token)
        assert again.status_code == 400 and again.headers["Reason"] == "TooEarlyToRefreshTokens"


def test_twenty_thousand_terms_page_quickly() -> None:
    started = time.monotonic()
    simulator = ExactOnlineSimulator.generate(
        terms=20_000, accounts=2_000, seed=1, today=TODAY, clock=ManualClock(NOW), rate_limit_minutely=100_000
    )
    with simulator, client_for(simulator) as api:
        rows, pages = follow(api, path("read/financial/ReceivablesList", simulator.division))
        assert (len(rows), pages) == (20_000, 334)
        synced, sync_pages = follow(
            api,
            path("sync/Cashflow/PaymentTerms", simulator.division),
            {"$filter": "Timestamp gt 1L", "$select": "ID,Timestamp"},
        )
        assert len(synced) > 20_000 and sync_pages == len(synced) // 1000 + 1
    assert time.monotonic() - started < 15


# --- CLI ----------------------------------------------------------------------------------------------------


def test_cli_prints_url_and_credentials_then_stops_cleanly() -> None:
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "simulate", "exact_online", "--port", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(5)]
        assert lines[0].startswith("listening on http://127.0.0.1:")
        assert [line.split(": ", 1)[0] for line in lines[1:]] == [
            "client_id",
            "client_secret",
            "division",
            "refresh_token",
        ]
        url = lines[0].removeprefix("listening on ")
        values = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines[1:]}
        refreshed = httpx.post(
            f"{url}/api/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": values["refresh_token"],
                  "client_id": values["client_id"], "client_secret": values["client_secret"]},
        )  # fmt: skip
        assert refreshed.status_code == 200, refreshed.text
        token = refreshed.json()["access_token"]
        listed = httpx.get(
            f"{url}/api/v1/{values['division']}/read/financial/ReceivablesList",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.status_code == 200 and len(listed.json()["d"]["results"]) == 50
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
