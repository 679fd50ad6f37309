"""The e-Boekhouden simulator behaves like the documented REST API, and its answers have the spec's shape.

Everything goes over real HTTP with httpx; time comes from a ManualClock. The shape tests validate against
the vendor's OpenAPI spec (a copy in `tests/fixtures/specs/`). The spec has two defects
that make some bodies impossible to validate as published (see `mended_spec`); those are validated against
a copy with exactly these defects mended, everything else against the spec as published.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.eboekhouden.simulator import EboekhoudenSimulator
from adapters.eboekhouden.simulator_data import generate_seed
from connector.clock import ManualClock
from tests.support.fixtures import vendor_payload
from tests.support.openapi import OpenApiSpec, load_spec

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
TODAY = date(2026, 11, 24)
TOKEN = "test-api-token-0123456789"
SOURCE = "Connector"
ACME, BAKKER, SUPPLIER = 1001, 1002, 1003
OPEN, PARTLY, PART_PAYMENT, PAID, FULL_PAYMENT, PURCHASE, DIRECT = range(50001, 50008)


def seed() -> dict[str, Any]:
    return {
        "apiToken": "from-the-seed",
        "relations": [
            {"id": ACME, "type": "B", "code": "R0001", "name": "Acme Installatietechniek B.V.",
             "contact": "Alice de Vries", "gender": "v", "emailAddress": "info@acme.example.nl",
             "emailAddressReminder": "debiteuren@acme.example.nl", "termOfPayment": 30,
             "note": "Klant sinds 2019.\nBetaalt na een herinnering.", "freeText4": "VIP"},
            {"id": BAKKER, "type": "P", "code": "R0002", "name": "Sanne Bakker", "gender": "v",
             "emailAddress": "sanne@example.com", "city": "Utrecht"},
            {"id": SUPPLIER, "type": "B", "code": "R0003", "name": "Groothandel B.V."},
        ],
        "mutations": [
            {"id": OPEN, "type": 2, "date": "2026-09-01", "relationId": ACME, "invoiceNumber": "F2026-00001",
             "termOfPayment": 30, "inExVat": "EX", "ledgerId": 1300, "entryNumber": "F2026-00001",
             "rows": [{"ledgerId": 8000, "vatCode": "HOOG_VERK_21", "vatAmount": 21.0, "amount": 100.0,
                       "description": "Installatie"}]},
            {"id": PARTLY, "type": 2, "date": "2026-10-01", "relationId": BAKKER, "invoiceNumber": "F2026-00002",
             "termOfPayment": 14, "inExVat": "IN",
             "rows": [{"ledgerId": 8000, "vatCode": "HOOG_VERK_21", "vatAmount": 10.5, "amount": 60.5}]},
            {"id": PART_PAYMENT, "type": 3, "date": "2026-10-20", "relationId": BAKKER, "ledgerId": 1100,
             "rows": [{"ledgerId": 1300, "amount": "20.00", "invoiceNumber": "F2026-00002", "relationId": BAKKER}]},
            {"id": PAID, "type": 2, "date": "2026-08-01", "relationId": ACME, "invoiceNumber": "F2026-00003",
             "termOfPayment": 14, "inExVat": "EX",
             "rows": [{"ledgerId": 8000, "vatCode": "HOOG_VERK_21", "vatAmount": 22.89, "amount": 109.0}]},
            {"id": FULL_PAYMENT, "type": 3, "date": "2026-08-10", "relationId": ACME, "invoiceNumber": "F2026-00003",
             "rows": [{"ledgerId": 1300, "amount": 131.89}]},
            {"id": PURCHASE, "type": 1, "date": "2026-11-01", "relationId": SUPPLIER, "invoiceNumber": "INK123",
             "termOfPayment": 30, "inExVat": "EX",
             "rows": [{"ledgerId": 4000, "vatCode": "HOOG_INK_21", "vatAmount": 105.0, "amount": 500.0}]},
            {"id": DIRECT, "type": 2, "date": "2026-11-10", "relationId": ACME, "invoiceNumber": "F2026-00004",
             "inExVat": "EX", "rows": [{"ledgerId": 8000, "vatCode": "HOOG_VERK_21", "vatAmount": 8.4, "amount": 40}]},
        ],
        "invoices": [
            {"id": 7001, "invoiceNumber": "F2026-00001", "relationId": ACME, "date": "2026-09-01", "termOfPayment": 30,
             "totalExcl": 100.0, "vatAmount": 21.0, "totalAmount": 121.0, "templateId": 2100, "emailTemplateId": 1100,
             "urlPdfFile": "https://facturen.example.nl/1.pdf",
             "items": [{"quantity": 1, "description": "Installatie", "pricePerUnit": 100.0, "vatCode": "HOOG_VERK_21",
                        "vatAmount": 21.0, "ledgerId": 8000}]},
            {"id": 7002, "invoiceNumber": "F2026-00002", "relationId": BAKKER, "date": "2026-10-01",
             "termOfPayment": 14, "totalExcl": 50.0, "vatAmount": 10.5, "totalAmount": 60.5, "inExVat": "IN"},
            {"id": 7003, "invoiceNumber": "F2026-00003", "relationId": ACME, "date": "2026-08-01", "termOfPayment": 14,
             "totalExcl": 109.0, "vatAmount": 22.89, "totalAmount": 131.89},
        ],
    }  # fmt: skip


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[EboekhoudenSimulator]:
    with EboekhoudenSimulator(seed(), api_token=TOKEN, today=TODAY, clock=clock) as simulator:
        yield simulator


def start_session(simulator: EboekhoudenSimulator, token: str | None = None) -> str:
    response = httpx.post(
        f"{simulator.base_url}/v1/session", json={"accessToken": token or simulator.api_token, "source": SOURCE}
    )
    assert response.status_code == 200, response.text
    session: str = response.json()["token"]
    return session


@pytest.fixture
def api(sim: EboekhoudenSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": start_session(sim)}, timeout=10) as client:
        yield client


def items(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["items"])
    rows: list[dict[str, Any]] = body["items"]
    return rows


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("code")


# --- the spec ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> OpenApiSpec:
    return load_spec("eboekhouden-openapi.json")


def _mend_dates(node: Any) -> None:
    """`{"type": "object", "format": "date"}` -> string: the spec's generator typed DateOnly as an object."""
    if isinstance(node, dict):
        if node.get("format") == "date" and node.get("type") in ("object", ["null", "object"]):
            node["type"] = "string" if node["type"] == "object" else ["null", "string"]
        for value in node.values():
            _mend_dates(value)
    elif isinstance(node, list):
        for value in node:
            _mend_dates(value)


@pytest.fixture(scope="module")
def mended_spec(spec: OpenApiSpec) -> OpenApiSpec:
    """The published spec with its two defects mended and nothing else changed:

    - every list item schema (`OutstandingInvoiceDto`, `InvoicesResponseDto`, `MutationsResponseDto`,
      `RelationsResponseDto`, `AdministrationResponseDto`) is referenced but missing, so no non-empty list
      validates; they are rebuilt from the spec's own detail schemas and the platform notes' field tables;
    - invoice `date` (and relation `mandateSignedDate`) are typed `object` with format `date`.
    """
    document = copy.deepcopy(dict(spec.document))
    paths = document["paths"]

    def detail(path: str) -> dict[str, Any]:
        properties: dict[str, Any] = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
            "properties"
        ]
        return properties

    invoice, mutation, relation = detail("/v1/invoice/{id}"), detail("/v1/mutation/{id}"), detail("/v1/relation/{id}")
    number, integer, text = {"type": "number"}, {"type": "integer"}, {"type": ["null", "string"]}
    missing = {
        "OutstandingInvoiceDto": {
            "type": "object",
            "required": ["date", "mutationId", "invoiceNumber", "relationId", "relationCode", "company",
                         "totalAmount", "paidAmount", "outstandingAmount"],
            "properties": {"date": {"type": "string", "format": "date"}, "mutationId": integer, "invoiceNumber": text,
                           "relationId": integer, "relationCode": text, "company": text, "totalAmount": number,
                           "paidAmount": number, "outstandingAmount": number},
        },
        "InvoicesResponseDto": {
            "type": "object",
            "properties": {
                **{name: invoice[name] for name in ("id", "invoiceNumber", "relationId", "date", "reference", "text",
                                                    "urlPdfFile", "totalExcl", "totalAmount", "vatAmount",
                                                    "termOfPayment", "templateId")},
                "print": {"type": "boolean"},
            },
        },
        "MutationsResponseDto": {
            "type": "object",
            "properties": {
                **{name: mutation[name] for name in ("id", "type", "date", "invoiceNumber", "ledgerId", "entryNumber")},
                "amount": number,
            },
        },
        "RelationsResponseDto": {"type": "object", "properties": relation},
        "AdministrationResponseDto": {
            "type": "object",
            "properties": {"guid": {"type": "string", "format": "uuid"}, "company": {"type": "string"}},
        },
    }  # fmt: skip
    schemas = document["components"]["schemas"]
    for name, schema in missing.items():
        schemas.setdefault(name, schema)
    _mend_dates(document)
    return OpenApiSpec(document, "urn:openapi:eboekhouden-openapi-mended")


Call = Callable[[EboekhoudenSimulator, httpx.Client], httpx.Response]


def get(path: str, **params: str) -> Call:
    return lambda sim, api: api.get(path, params=params or None)


def session_post(body: Any) -> Call:
    return lambda sim, api: httpx.post(f"{sim.base_url}/v1/session", json=body)


def patch(path: str, body: Any) -> Call:
    return lambda sim, api: api.patch(path, json=body)


SESSION, OUTSTANDING, MUTATIONS, INVOICES, RELATIONS = (
    "/v1/session", "/v1/mutation/invoice/outstanding", "/v1/mutation", "/v1/invoice", "/v1/relation",
)  # fmt: skip
ERROR = "/v1/mutation"  # the outstanding list declares no 400: its errors use the same Error schema as here
VALID = {"accessToken": TOKEN, "source": SOURCE}
# (id, call, spec path, method, status, needs the mended spec)
SHAPES: list[tuple[str, Call, str, str, int, bool]] = [
    ("session", session_post(VALID), SESSION, "post", 200, False),
    ("session no source", session_post({"accessToken": TOKEN}), SESSION, "post", 400, False),
    ("session hyphen", session_post({**VALID, "source": "pp-cli"}), SESSION, "post", 400, False),
    ("session no token", session_post({"source": SOURCE}), SESSION, "post", 400, False),
    ("session unknown token", session_post({**VALID, "accessToken": "wrong"}), SESSION, "post", 403, False),
    ("outstanding", get(OUTSTANDING, credDeb="D"), OUTSTANDING, "get", 200, True),
    ("outstanding creditors", get(OUTSTANDING, credDeb="C"), OUTSTANDING, "get", 200, True),
    ("outstanding no credDeb", get(OUTSTANDING), ERROR, "get", 400, False),
    ("outstanding limit 2001", get(OUTSTANDING, credDeb="D", limit="2001"), ERROR, "get", 400, False),
    ("invoices", get(INVOICES), INVOICES, "get", 200, True),
    ("invoices bad offset", get(INVOICES, offset="-1"), INVOICES, "get", 400, False),
    ("invoice", get(f"{INVOICES}/7001"), f"{INVOICES}/{{id}}", "get", 200, True),
    ("invoice missing", get(f"{INVOICES}/1"), f"{INVOICES}/{{id}}", "get", 404, False),
    ("mutations", get(MUTATIONS), MUTATIONS, "get", 200, True),
    ("mutation", get(f"{MUTATIONS}/{OPEN}"), f"{MUTATIONS}/{{id}}", "get", 200, False),
    ("payment mutation", get(f"{MUTATIONS}/{PART_PAYMENT}"), f"{MUTATIONS}/{{id}}", "get", 200, False),
    ("booked directly", get(f"{MUTATIONS}/{DIRECT}"), f"{MUTATIONS}/{{id}}", "get", 200, False),
    ("mutation missing", get(f"{MUTATIONS}/1"), f"{MUTATIONS}/{{id}}", "get", 404, False),
    ("relations", get(RELATIONS), RELATIONS, "get", 200, True),
    ("relation", get(f"{RELATIONS}/{ACME}"), f"{RELATIONS}/{{id}}", "get", 200, False),
    ("private relation", get(f"{RELATIONS}/{BAKKER}"), f"{RELATIONS}/{{id}}", "get", 200, False),
    ("relation missing", get(f"{RELATIONS}/1"), f"{RELATIONS}/{{id}}", "get", 404, False),
    ("patch nameless", patch(f"{RELATIONS}/{ACME}", {"note": "x"}), f"{RELATIONS}/{{id}}", "patch", 400, False),
    ("patch missing", patch(f"{RELATIONS}/1", {"name": "x"}), f"{RELATIONS}/{{id}}", "patch", 404, False),
    ("linked administrations", get("/v1/administration/linked"), "/v1/administration/linked", "get", 200, True),
]


@pytest.mark.parametrize(
    ("call", "path", "method", "status", "mended"), [pytest.param(*case[1:], id=case[0]) for case in SHAPES]
)
def test_responses_match_the_spec(
    sim: EboekhoudenSimulator,
    api: httpx.Client,
    spec: OpenApiSpec,
    mended_spec: OpenApiSpec,
    call: Call,
    path: str,
    method: str,
    status: int,
    mended: bool,
) -> None:
    response = call(sim, api)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    (mended_spec if mended else spec).validate_response(path, method, status, response.json())


def test_generated_objects_fill_the_schemas(spec: OpenApiSpec, mended_spec: OpenApiSpec) -> None:
    """Generated relations carry every Relation field (the enums without a value are left out, as null
    is not allowed); generated mutations, invoices and list rows validate too."""
    simulator = EboekhoudenSimulator.generate(items=60, relations=30, seed=4, today=TODAY, clock=ManualClock(NOW))
    relation_fields = set(spec.document["paths"]["/v1/relation/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"])  # fmt: skip
    for key in simulator.relation_ids():
        relation = simulator.relation(key)
        spec.validate_response("/v1/relation/{id}", "get", 200, relation)
        absent = relation_fields - set(relation)
        assert absent <= {"mandateType"} and (absent == set()) == relation["mandate"]
    for key in simulator.outstanding_ids() + simulator.outstanding_ids("C"):
        spec.validate_response("/v1/mutation/{id}", "get", 200, simulator.mutation(key))
        row = simulator.outstanding(key)
        mended_spec.validate_response(OUTSTANDING, "get", 200, {"items": [row], "count": 1})
        invoice = simulator.invoice_for(key)
        if invoice is not None:
            mended_spec.validate_response("/v1/invoice/{id}", "get", 200, invoice)


# --- sessions ------------------------------------------------------------------------------------------


def test_session_lifecycle(sim: EboekhoudenSimulator, clock: ManualClock) -> None:
    url = f"{sim.base_url}/v1/administration/linked"
    response = httpx.post(f"{sim.base_url}/v1/session", json={"accessToken": TOKEN, "source": SOURCE})
    assert response.json()["expiresIn"] == 3600
    token = response.json()["token"]
    assert (sim.sessions_created, sim.active_sessions) == (1, 1)
    assert items(httpx.get(url, headers={"Authorization": token}))[0]["company"]

    clock.advance(timedelta(seconds=3599))
    assert httpx.get(url, headers={"Authorization": token}).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = httpx.get(url, headers={"Authorization": token})
    assert (expired.status_code, expired.content) == (401, b"")
    assert sim.active_sessions == 0

    token = start_session(sim)
    sim.expire_sessions()
    assert httpx.get(url, headers={"Authorization": token}).status_code == 401

    token = start_session(sim)
    assert httpx.delete(f"{sim.base_url}/v1/session", headers={"Authorization": token}).status_code == 204
    after = httpx.get(url, headers={"Authorization": token})
    assert (after.status_code, after.content) == (401, b"")
    again = httpx.delete(f"{sim.base_url}/v1/session", headers={"Authorization": token})
    assert (again.status_code, again.content) == (401, b"")
    assert (sim.sessions_created, sim.active_sessions) == (3, 0)


def test_the_session_token_is_sent_raw(sim: EboekhoudenSimulator) -> None:
    token = start_session(sim)
    url = f"{sim.base_url}/v1/relation"
    assert httpx.get(url, headers={"Authorization": token}).status_code == 200
    for headers in ({"Authorization": f"Bearer {token}"}, {}, {"Authorization": TOKEN}):
        refused = httpx.get(url, headers=headers)
        assert (refused.status_code, refused.content) == (401, b"")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"accessToken": TOKEN}, "API_SESSION_001"),
        ({"accessToken": TOKEN, "source": ""}, "API_SESSION_001"),
        ({"accessToken": TOKEN, "source": "pp-cli"}, "API_SESSION_002"),
        ({"accessToken": TOKEN, "source": "elevenchars"}, "API_SESSION_002"),
        ({"source": SOURCE}, "API_SESSION_003"),
        ({"accessToken": "", "source": SOURCE}, "API_SESSION_003"),
    ],
)
def test_session_request_errors(sim: EboekhoudenSimulator, body: dict[str, str], code: str) -> None:
    response = httpx.post(f"{sim.base_url}/v1/session", json=body)
    assert code_of(response) == (400, code)
    assert response.json()["type"] == "validation" and response.json()["title"]


def test_unknown_expired_and_revoked_api_tokens(sim: EboekhoudenSimulator) -> None:
    url = f"{sim.base_url}/v1/session"
    assert httpx.post(url, json={"accessToken": "pp_cli ok", "source": "pp_cli ok"}).status_code == 403
    unknown = httpx.post(url, json={"accessToken": "nope", "source": SOURCE}).json()
    assert {key: unknown[key] for key in ("type", "title", "status", "code", "securityType")} == {
        "type": "security", "title": "Login failed", "status": 403, "code": "SECURITY_001", "securityType": "0",
    }  # fmt: skip
    running = start_session(sim)
    sim.expire_api_token()
    assert code_of(httpx.post(url, json=VALID)) == (400, "API_SESSION_004")
    sim.revoke_api_token()
    assert httpx.post(url, json=VALID).status_code == 403
    assert httpx.get(f"{sim.base_url}/v1/relation", headers={"Authorization": running}).status_code == 200
    assert sim.sessions_created == 1


def test_api_token_comes_from_the_argument_the_seed_or_chance() -> None:
    assert EboekhoudenSimulator(seed(), api_token="given").api_token == "given"
    assert EboekhoudenSimulator(seed()).api_token == "from-the-seed"
    first, second = EboekhoudenSimulator().api_token, EboekhoudenSimulator().api_token
    assert first != second and len(first) >= 32


# --- the outstanding list and paging --------------------------------------------------------------------


def test_outstanding_is_computed_from_the_mutations(api: httpx.Client) -> None:
    rows = items(api.get(OUTSTANDING, params={"credDeb": "D"}))
    assert [row["mutationId"] for row in rows] == [OPEN, PARTLY, DIRECT]
    assert rows[0] == {
        "date": "2026-09-01", "mutationId": OPEN, "invoiceNumber": "F2026-00001", "relationId": ACME,
        "relationCode": "R0001", "company": "Acme Installatietechniek B.V.", "totalAmount": 121.0,
        "paidAmount": 0.0, "outstandingAmount": 121.0,
    }  # fmt: skip
    assert (rows[1]["totalAmount"], rows[1]["paidAmount"], rows[1]["outstandingAmount"]) == (60.5, 20.0, 40.5)
    assert rows[2]["outstandingAmount"] == 48.4  # EX: rows plus their VAT
    creditors = items(api.get(OUTSTANDING, params={"credDeb": "C"}))
    assert [(row["mutationId"], row["outstandingAmount"]) for row in creditors] == [(PURCHASE, 605.0)]
    only = items(api.get(OUTSTANDING, params={"credDeb": "D", "invoiceNumber": "F2026-00002"}))
    assert [row["mutationId"] for row in only] == [PARTLY]
    assert items(api.get(OUTSTANDING, params={"credDeb": "D", "invoiceNumber": "F2026-00003"})) == []  # paid


def test_amounts_are_plain_json_numbers(api: httpx.Client) -> None:
    text = api.get(INVOICES, params={"invoiceNumber": "F2026-00003"}).text
    assert '"totalAmount":131.89' in text and '"vatAmount":22.89' in text
    assert '"outstandingAmount":40.5' in api.get(OUTSTANDING, params={"credDeb": "D"}).text
    assert re.search(r'"amount":"', api.get(MUTATIONS).text) is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, (400, "MUTA_006")),
        ({"credDeb": ""}, (400, "MUTA_006")),
        ({"credDeb": "X"}, (400, "MUTA_007")),
        ({"credDeb": "D", "limit": "2001"}, (400, "PAGE_001")),
        ({"credDeb": "D", "limit": "0"}, (400, "PAGE_001")),
        ({"credDeb": "D", "offset": "-1"}, (400, "PAGE_002")),
        ({"credDeb": "D", "limit": "ten"}, (400, "ERR_002")),
    ],
)
def test_outstanding_parameter_errors(api: httpx.Client, params: dict[str, str], expected: tuple[int, str]) -> None:
    assert code_of(api.get(OUTSTANDING, params=params)) == expected


def read_all(api: httpx.Client, path: str, limit: int, **params: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Page by limit/offset until a short page; returns the rows and the page sizes."""
    rows: list[dict[str, Any]] = []
    sizes: list[int] = []
    while True:
        page = items(api.get(path, params={**params, "limit": str(limit), "offset": str(len(rows))}))
        rows += page
        sizes.append(len(page))
        if len(page) < limit:
            return rows, sizes


def test_paging_ends_with_a_short_page_and_covers_everything_once(clock: ManualClock) -> None:
    simulator = EboekhoudenSimulator.generate(items=250, relations=40, seed=2, today=TODAY, clock=clock)
    with (
        simulator,
        httpx.Client(base_url=simulator.base_url, headers={"Authorization": start_session(simulator)}) as api,
    ):
        rows, sizes = read_all(api, OUTSTANDING, 100, credDeb="D")
        assert sizes == [100, 100, 50]
        keys = [row["mutationId"] for row in rows]
        assert keys == sorted(set(keys)) and [str(key) for key in keys] == simulator.outstanding_ids()
        assert items(api.get(OUTSTANDING, params={"credDeb": "D"})) == rows[:100]  # default limit 100

        mutations, sizes = read_all(api, MUTATIONS, 97)
        assert sizes[-1] < 97 and len({row["id"] for row in mutations}) == len(mutations) > 250
        invoices, _ = read_all(api, INVOICES, 2000)
        assert [row["id"] for row in invoices] == sorted(row["id"] for row in invoices)
        relations, sizes = read_all(api, RELATIONS, 40)
        assert sizes == [40, 0] and all(set(row) == {"id", "type", "code"} for row in relations)
        assert items(api.get(RELATIONS, params={"offset": "1000"})) == []


# --- invoices, mutations, relations: lists and filters ---------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [7001, 7002, 7003]),
        ({"invoiceNumber": "F2026-00002"}, [7002]),
        ({"invoiceNumber[not_eq]": "F2026-00002"}, [7001, 7003]),
        ({"invoiceNumber[like]": "%0003"}, [7003]),
        ({"invoiceNumber[like]": "f2026-0000?"}, [7001, 7002, 7003]),
        ({"relationId": str(ACME)}, [7001, 7003]),
        ({"date": "2026-09-01"}, [7001]),
        ({"date[gt]": "2026-09-01"}, [7002]),
        ({"date[gte]": "2026-09-01"}, [7001, 7002]),
        ({"date[lt]": "2026-09-01"}, [7003]),
        ({"date[lte]": "2026-09-01"}, [7001, 7003]),
        ({"date[range]": "2026-08-01,2026-09-01"}, [7001, 7003]),
    ],
)
def test_invoice_list_filters(api: httpx.Client, params: dict[str, str], expected: list[int]) -> None:
    assert [row["id"] for row in items(api.get(INVOICES, params=params))] == expected


@pytest.mark.parametrize(
    "params",
    [{"date": "01-09-2026"}, {"date[between]": "2026-01-01"}, {"date[range]": "2026-01-01"}, {"relationId": "x"}],
)
def test_bad_filters_are_400(api: httpx.Client, params: dict[str, str]) -> None:
    assert code_of(api.get(INVOICES, params=params)) == (400, "ERR_002")


def test_invoice_list_and_detail(api: httpx.Client) -> None:
    row = items(api.get(INVOICES, params={"invoiceNumber": "F2026-00001"}))[0]
    assert row == {
        "id": 7001, "invoiceNumber": "F2026-00001", "relationId": ACME, "date": "2026-09-01", "reference": "",
        "text": "", "urlPdfFile": "https://facturen.example.nl/1.pdf", "totalExcl": 100.0, "totalAmount": 121.0,
        "vatAmount": 21.0, "termOfPayment": 30, "templateId": 2100, "print": False,
    }  # fmt: skip
    detail = api.get(f"{INVOICES}/7001").json()
    assert {key: detail[key] for key in row} == row
    assert detail["inExVat"] == "EX" and detail["emailTemplateId"] == 1100
    assert detail["items"][0]["description"] == "Installatie" and detail["items"][0]["pricePerUnit"] == 100.0
    assert code_of(api.get(f"{INVOICES}/9999")) == (404, "FACT_021")


def test_mutation_list_and_detail(api: httpx.Client) -> None:
    rows = items(api.get(MUTATIONS))
    assert [row["id"] for row in rows] == list(range(OPEN, DIRECT + 1))
    fields = {"id", "type", "date", "invoiceNumber", "ledgerId", "amount", "entryNumber"}  # no rows
    assert all(set(row) == fields or set(row) == fields - {"ledgerId"} for row in rows)  # ledgerId: never null
    assert rows[0]["ledgerId"] == 1300 and "ledgerId" not in rows[1]
    assert [row["amount"] for row in rows[:3]] == [121.0, 60.5, 20.0]
    payments = items(api.get(MUTATIONS, params={"type": "3"}))
    assert [row["id"] for row in payments] == [PART_PAYMENT, FULL_PAYMENT]
    recent = items(api.get(MUTATIONS, params={"date[gte]": "2026-11-01"}))
    assert [row["id"] for row in recent] == [PURCHASE, DIRECT]
    assert [row["id"] for row in items(api.get(MUTATIONS, params={"invoiceNumber": "F2026-00003"}))] == [
        PAID, FULL_PAYMENT,
    ]  # fmt: skip
    detail = api.get(f"{MUTATIONS}/{OPEN}").json()
    assert {key: detail[key] for key in ("id", "type", "date", "termOfPayment", "relationId", "inExVat")} == {
        "id": OPEN, "type": "2", "date": "2026-09-01", "termOfPayment": 30, "relationId": ACME, "inExVat": "EX",
    }  # fmt: skip
    assert detail["rows"][0]["amount"] == 100.0 and detail["vat"] == [{"vatCode": "HOOG_VERK_21", "amount": 21.0}]
    assert "termOfPayment" not in api.get(f"{MUTATIONS}/{DIRECT}").json()  # not null: the spec allows no null
    assert code_of(api.get(f"{MUTATIONS}/1")) == (404, "MUT_300")


def test_relation_list_carries_only_id_type_code(api: httpx.Client) -> None:
    rows = items(api.get(RELATIONS))
    assert rows == [
        {"id": ACME, "type": "B", "code": "R0001"}, {"id": BAKKER, "type": "P", "code": "R0002"},
        {"id": SUPPLIER, "type": "B", "code": "R0003"},
    ]  # fmt: skip
    assert items(api.get(RELATIONS, params={"type": "P"})) == [rows[1]]
    assert items(api.get(RELATIONS, params={"code": "R0003"})) == [rows[2]]
    assert items(api.get(RELATIONS, params={"name[like]": "%bakker%"})) == [rows[1]]
    relation = api.get(f"{RELATIONS}/{ACME}").json()
    assert relation["emailAddressReminder"] == "debiteuren@acme.example.nl" and relation["termOfPayment"] == 30
    assert relation["note"] == "Klant sinds 2019.\nBetaalt na een herinnering." and relation["freeText4"] == "VIP"
    assert code_of(api.get(f"{RELATIONS}/42")) == (404, "REL_055")


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    missing = api.get("/v1/nothing")
    assert (missing.status_code, missing.content) == (404, b"")
    wrong = api.delete(f"{RELATIONS}/{ACME}")
    assert wrong.status_code == 405 and "PATCH" in wrong.headers["Allow"]


# --- PATCH /v1/relation/{id} ---------------------------------------------------------------------------


def test_patch_keeps_omitted_fields_but_resets_the_type(sim: EboekhoudenSimulator, api: httpx.Client) -> None:
    before = sim.relation(BAKKER)
    response = api.patch(f"{RELATIONS}/{BAKKER}", json={"name": "Sanne Bakker", "note": "Herinnering 1 verstuurd."})
    assert (response.status_code, response.content) == (204, b"")
    after = api.get(f"{RELATIONS}/{BAKKER}").json()
    assert after["type"] == "B"  # the documented pitfall: no type sent, so the private relation is now a business
    assert after["note"] == "Herinnering 1 verstuurd."
    assert {k: v for k, v in after.items() if k not in ("type", "note")} == {
        k: v for k, v in before.items() if k not in ("type", "note")
    }
    assert api.patch(f"{RELATIONS}/{BAKKER}", json={"name": "Sanne Bakker", "type": "P"}).status_code == 204
    assert sim.relation(BAKKER)["type"] == "P"
    assert api.patch(f"{RELATIONS}/{BAKKER}", json={"name": "Sanne Bakker", "type": ""}).status_code == 204
    assert sim.relation(BAKKER)["type"] == "B"


def test_patch_writes_what_is_sent(sim: EboekhoudenSimulator, api: httpx.Client) -> None:
    body = {
        "name": "Acme B.V.", "type": "B", "freeText1": "herinnering 2 op 24-11-2026", "emailAddressReminder": "",
        "termOfPayment": None, "inactive": True, "doNotReceiveNewsletters": True, "gender": "",
    }  # fmt: skip
    assert api.patch(f"{RELATIONS}/{ACME}", json=body).status_code == 204
    relation = sim.relation(ACME)
    assert relation["name"] == "Acme B.V." and relation["freeText1"] == "herinnering 2 op 24-11-2026"
    assert relation["emailAddressReminder"] == "" and relation["termOfPayment"] is None
    assert relation["inactive"] is True and relation["doNotReceiveNewsletters"] == 1  # a bool in, an int out
    assert "gender" not in relation and relation["contact"] == "Alice de Vries"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"note": "x"}, "REL_002"),
        ({"name": ""}, "REL_002"),
        ({"name": "   "}, "REL_002"),
        ({"name": "x" * 101}, "REL_003"),
        ({"name": "Acme", "type": "X"}, "REL_001"),
        ({"name": "Acme", "gender": "x"}, "REL_004"),
        ({"name": "Acme", "note": "n" * 40_001}, "REL_047"),
        ({"name": "Acme", "emailAddressReminder": "not an address"}, "REL_027"),
        ({"name": "Acme", "termOfPayment": "14"}, "ERR_002"),
        *[({"name": "Acme", f"freeText{n}": "f" * 101}, f"REL_{36 + n:03d}") for n in range(1, 11)],
    ],
)
def test_patch_validation(sim: EboekhoudenSimulator, api: httpx.Client, body: dict[str, Any], code: str) -> None:
    before = sim.relation(ACME)
    assert code_of(api.patch(f"{RELATIONS}/{ACME}", json=body)) == (400, code)
    assert sim.relation(ACME) == before  # nothing written


def test_patch_limits_are_inclusive_and_bodies_may_be_pascal_case(sim: EboekhoudenSimulator, api: httpx.Client) -> None:
    body = {"Name": "Acme", "Type": "B", "Note": "n" * 40_000, **{f"FreeText{n}": "f" * 100 for n in range(1, 11)}}
    assert api.patch(f"{RELATIONS}/{ACME}", json=body).status_code == 204
    assert len(sim.relation(ACME)["note"]) == 40_000 and sim.relation(ACME)["freeText10"] == "f" * 100
    assert code_of(api.patch(f"{RELATIONS}/{ACME}", content=b"")) == (400, "DATA_01")
    assert code_of(api.patch(f"{RELATIONS}/999", json={"name": "x"})) == (404, "REL_055")


def test_note_history_keeps_every_value(sim: EboekhoudenSimulator, api: httpx.Client) -> None:
    first = "Klant sinds 2019.\nBetaalt na een herinnering."
    for note in ("A", "A", "B"):
        assert api.patch(f"{RELATIONS}/{ACME}", json={"name": "Acme", "note": note}).status_code == 204
    api.patch(f"{RELATIONS}/{ACME}", json={"name": "Acme"})  # note omitted: kept
    sim.update_relation(ACME, note="C, typed in the web app")
    assert sim.note_history(ACME) == [first, "A", "B", "C, typed in the web app"]
    assert sim.note_history(str(BAKKER)) == [""]
    assert api.get(f"{RELATIONS}/{ACME}").json()["note"] == "C, typed in the web app"


# --- changing the books ----------------------------------------------------------------------------------


def test_add_payment_partly_then_fully(sim: EboekhoudenSimulator, api: httpx.Client) -> None:
    payment = sim.add_payment(OPEN, Decimal("21.00"), on=date(2026, 11, 20))
    row = sim.outstanding(OPEN)
    assert row is not None and (row["paidAmount"], row["outstandingAmount"]) == (21.0, 100.0)
    booked = api.get(f"{MUTATIONS}/{payment}").json()
    assert (booked["type"], booked["date"], booked["invoiceNumber"]) == ("3", "2026-11-20", "F2026-00001")
    assert booked["rows"][0]["amount"] == 21.0 and booked["rows"][0]["relationId"] == ACME

    sim.add_payment(str(OPEN))  # the rest
    assert sim.outstanding(OPEN) is None and str(OPEN) not in sim.outstanding_ids()
    assert [row["mutationId"] for row in items(api.get(OUTSTANDING, params={"credDeb": "D"}))] == [PARTLY, DIRECT]
    assert sim.invoice_for(OPEN) is not None  # the invoice record stays: it has no paid state

    purchase_payment = sim.add_payment(PURCHASE)
    assert sim.outstanding_ids("C") == [] and sim.mutation(purchase_payment)["type"] == "4"
    with pytest.raises(ValueError, match="nothing to pay"):
        sim.add_payment(OPEN)
    with pytest.raises(KeyError):
        sim.add_payment(1)


def test_payment_control_route(sim: EboekhoudenSimulator) -> None:
    response = httpx.post(f"{sim.base_url}/_simulator/payments", json={"mutationId": PARTLY, "amount": "12.50"})
    assert response.status_code == 200 and response.json()["outstanding"]["outstandingAmount"] == 28.0
    response = httpx.post(f"{sim.base_url}/_simulator/payments", json={"mutationId": str(PARTLY)})
    assert response.status_code == 200 and response.json()["outstanding"] is None
    assert httpx.post(f"{sim.base_url}/_simulator/payments", json={"mutationId": 1}).status_code == 404
    assert sim.requests() == []  # control routes are not logged


def test_add_invoice_with_and_without_an_invoice_record(sim: EboekhoudenSimulator, api: httpx.Client) -> None:
    with_record = sim.add_invoice(BAKKER, Decimal("121.00"), term_of_payment=21, on=date(2026, 11, 23))
    direct = sim.add_invoice(str(ACME), Decimal("50.00"), term_of_payment=None, with_invoice_record=False)
    assert int(with_record) == DIRECT + 1 and int(direct) == DIRECT + 2
    assert sim.outstanding_ids()[-2:] == [with_record, direct]
    row = sim.outstanding(with_record)
    assert row is not None and row["invoiceNumber"] == "F2026-00005" and row["totalAmount"] == 121.0
    invoice = sim.invoice_for(with_record)
    assert invoice is not None and (invoice["termOfPayment"], invoice["totalExcl"], invoice["vatAmount"]) == (
        21, 100.0, 21.0,
    )  # fmt: skip
    assert items(api.get(INVOICES, params={"invoiceNumber": "F2026-00005"}))[0]["id"] == invoice["id"]
    assert sim.invoice_for(direct) is None
    assert items(api.get(INVOICES, params={"invoiceNumber": "F2026-00006"})) == []
    booked = api.get(f"{MUTATIONS}/{direct}").json()
    assert booked["date"] == TODAY.isoformat() and "termOfPayment" not in booked


def test_delete_mutation_removes_it_everywhere(sim: EboekhoudenSimulator, api: httpx.Client) -> None:
    sim.delete_mutation(OPEN)
    assert code_of(api.get(f"{MUTATIONS}/{OPEN}")) == (404, "MUT_300")
    assert str(OPEN) not in sim.outstanding_ids() and sim.outstanding(OPEN) is None
    assert OPEN not in [row["id"] for row in items(api.get(MUTATIONS))]
    assert items(api.get(INVOICES, params={"invoiceNumber": "F2026-00001"})) == []  # with its invoice record
    with pytest.raises(KeyError):
        sim.mutation(OPEN)

    sim.delete_mutation(FULL_PAYMENT)  # a payment gone: the invoice is owed again
    row = sim.outstanding(PAID)
    assert row is not None and row["outstandingAmount"] == 131.89
    assert sim.add_invoice(ACME, Decimal(10)) == str(DIRECT + 1)  # ids are never reused


# --- seeds -----------------------------------------------------------------------------------------------


def test_the_vendor_example_payloads_seed_it(clock: ManualClock) -> None:
    def payload(name: str) -> Any:
        return vendor_payload("eboekhouden", name)

    document = {
        "ApiToken": "vendor-example",
        "Relations": [payload("relation_get.response.json")],
        "Mutations": [payload("mutation_get.response.json")],
        "Invoices": payload("invoice_list.response.json"),  # a list envelope: {"Items": [...], "Count": 1}
    }
    with EboekhoudenSimulator(document, today=TODAY, clock=clock) as simulator:
        assert simulator.api_token == "vendor-example"
        relation = simulator.relation(1)
        assert (relation["type"], relation["name"], relation["date"]) == ("B", "Company", "2026-08-29")
        assert relation["emailAddressReminder"] == "reminder@company.com" and relation["mandateType"] == "D"
        assert simulator.outstanding_ids() == ["12"]
        row = simulator.outstanding(12)
        assert row is not None and (row["totalAmount"], row["outstandingAmount"]) == (12.1, 12.1)
        assert row["relationId"] == 111 and simulator.relation(111)["name"] == "Relatie 111"  # a stub relation
        assert simulator.mutation(12)["termOfPayment"] == 12
        with httpx.Client(base_url=simulator.base_url, headers={"Authorization": start_session(simulator)}) as api:
            assert items(api.get(INVOICES))[0]["totalAmount"] == 131.89
            patched = api.patch("/v1/relation/1", json=payload("relation_patch.request.json"))
            assert patched.status_code == 204
    with pytest.raises(ValueError, match="relations"):
        EboekhoudenSimulator({"relations": "nope"})


# --- faults, throttling and the request log ---------------------------------------------------------------


def test_faults_keep_the_session_route_free(sim: EboekhoudenSimulator, api: httpx.Client, spec: OpenApiSpec) -> None:
    sim.set_faults("500:1.0")
    failed = api.get(RELATIONS)
    assert failed.status_code == 500 and failed.json()["code"] == "ERR_001"
    spec.validate_response(ERROR, "get", 400, failed.json())  # the Error shape
    assert start_session(sim)  # never faulted
    sim.set_faults("503:1.0")
    assert api.get(RELATIONS).status_code == 503
    sim.set_faults("429:1.0")
    throttled = api.get(RELATIONS)
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 2
    sim.set_faults(None)
    assert api.get(RELATIONS).status_code == 429  # the burst holds this session for a moment
    fresh = httpx.get(f"{sim.base_url}{RELATIONS}", headers={"Authorization": start_session(sim)})
    assert fresh.status_code == 200  # another session is not throttled


def test_optional_throttle_per_session(clock: ManualClock) -> None:
    simulator = EboekhoudenSimulator(seed(), api_token=TOKEN, clock=clock, rate_limit=3, rate_window_seconds=30)
    with simulator:
        first, second = start_session(simulator), start_session(simulator)
        url = f"{simulator.base_url}/v1/relation"
        assert [httpx.get(url, headers={"Authorization": first}).status_code for _ in range(4)] == [200, 200, 200, 429]
        refused = httpx.get(url, headers={"Authorization": first})
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 30
        assert httpx.get(url, headers={"Authorization": second}).status_code == 200  # per session token
        assert start_session(simulator)  # creating sessions is never throttled
    assert "rate limit: 3 per 30 s" in simulator.summary_lines()


def test_request_log(sim: EboekhoudenSimulator) -> None:
    token = start_session(sim)
    httpx.get(
        f"{sim.base_url}/v1/mutation/invoice/outstanding", params={"credDeb": "D"}, headers={"Authorization": token}
    )
    httpx.get(f"{sim.base_url}/v1/relation", headers={"Authorization": "Bearer " + token})
    httpx.post(f"{sim.base_url}/_simulator/expire-sessions")
    logged = sim.requests()
    assert [(e["method"], e["path"], e["status"]) for e in logged] == [
        ("POST", "/v1/session", 200),
        ("GET", "/v1/mutation/invoice/outstanding", 200),
        ("GET", "/v1/relation", 401),
    ]
    assert logged[1]["query"] == {"credDeb": "D"}
    assert token not in str(logged) and TOKEN not in str(logged)
    assert sim.active_sessions == 0  # the control route ended it


# --- generation --------------------------------------------------------------------------------------------


def test_five_thousand_items_are_generated_deterministically_and_served_quickly() -> None:
    started = time.monotonic()
    simulator = EboekhoudenSimulator.generate(items=5000, relations=1000, seed=7, today=TODAY, clock=ManualClock(NOW))
    assert time.monotonic() - started < 4
    document = generate_seed(5000, 1000, 7, today=TODAY)
    assert document == generate_seed(5000, 1000, 7, today=TODAY)
    assert document != generate_seed(5000, 1000, 8, today=TODAY)
    assert simulator.relation(1001) == document["relations"][0]

    relations = document["relations"]
    assert [r["id"] for r in relations] == list(range(1001, 2001)) and relations[0]["code"] == "R0001"
    types = Counter(r["type"] for r in relations)
    assert 0.62 < types["B"] / 1000 < 0.78
    persons = [r for r in relations if r["type"] == "P"]
    assert all(not r["companyRegistrationNumber"] and not r["vatNumber"] and r["gender"] in "mv" for r in persons)
    business = [r for r in relations if r["type"] == "B"]
    assert all(len(r["companyRegistrationNumber"]) == 8 and r["vatNumber"].startswith("NL") for r in business)
    kinds = Counter(
        "reminder" if r["emailAddressReminder"] else "invoice" if r["emailAddressInvoice"]
        else "general" if r["emailAddress"] else "none"
        for r in relations
    )  # fmt: skip
    assert 430 < kinds["reminder"] < 570 and 190 < kinds["invoice"] < 310
    assert 140 < kinds["general"] < 260 and 20 < kinds["none"] < 90
    assert all(r["emailAddress"] for r in relations if r["emailAddressInvoice"] and not r["emailAddressReminder"])
    assert 150 < sum(r["termOfPayment"] is None for r in relations) < 250
    assert {r["termOfPayment"] for r in relations} == {None, 14, 30}
    assert 230 < sum("\n" in r["note"] for r in relations) < 370

    open_ids = simulator.outstanding_ids()
    assert len(open_ids) == 5000 and open_ids == sorted(open_ids) and int(open_ids[0]) >= 50001
    sales = {m["id"]: m for m in document["mutations"] if m["type"] == 2}
    opened = [sales[int(key)] for key in open_ids]
    assert all(TODAY - timedelta(days=120) <= date.fromisoformat(m["date"]) <= TODAY for m in opened)
    assert all(re.fullmatch(r"F20\d\d-\d{5}", m["invoiceNumber"]) for m in opened)
    terms = Counter(m["termOfPayment"] for m in opened)
    assert set(terms) == {0, None, 8, 14, 30} and 300 < terms[0] + terms[None] < 700
    recorded = {(i["invoiceNumber"], i["relationId"]) for i in document["invoices"]}
    with_record = [m for m in opened if (m["invoiceNumber"], m["relationId"]) in recorded]
    assert 0.72 < len(with_record) / 5000 < 0.88
    assert 1200 < len(document["invoices"]) - len(with_record) < 1800  # the paid history
    payments = [m for m in document["mutations"] if m["type"] == 3]
    partly = {p["invoiceNumber"] for p in payments} & {m["invoiceNumber"] for m in opened}
    assert 350 < len(partly) < 650
    assert len(simulator.outstanding_ids("C")) > 0
    assert len({m["relationId"] for m in opened}) > 900  # spread, several for some relations

    with (
        simulator,
        httpx.Client(base_url=simulator.base_url, headers={"Authorization": start_session(simulator)}) as api,
    ):
        started = time.monotonic()
        page = items(api.get(OUTSTANDING, params={"credDeb": "D", "limit": "2000", "offset": "1000"}))
        assert time.monotonic() - started < 1.0
    assert len(page) == 2000 and [str(row["mutationId"]) for row in page] == open_ids[1000:3000]
    for row in page:
        total, paid, owed = (Decimal(str(row[key])) for key in ("totalAmount", "paidAmount", "outstandingAmount"))
        assert Decimal(50) <= total <= Decimal(5000) and total == total.quantize(Decimal("0.01"))
        assert owed == total - paid and owed > 0


# --- CLI ---------------------------------------------------------------------------------------------------


def test_cli_prints_url_and_api_token_then_stops_cleanly() -> None:
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "simulate", "eboekhouden", "--port", "0", "--session-seconds", "900"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first, second = process.stdout.readline().rstrip("\n"), process.stdout.readline().rstrip("\n")
        assert re.fullmatch(r"listening on http://127\.0\.0\.1:\d+", first), first
        assert second.startswith("api_token: ")
        url, token = first.removeprefix("listening on "), second.removeprefix("api_token: ")
        session = httpx.post(f"{url}/v1/session", json={"accessToken": token, "source": SOURCE})
        assert session.status_code == 200 and session.json()["expiresIn"] == 900
        listed = httpx.get(
            f"{url}{OUTSTANDING}", params={"credDeb": "D"}, headers={"Authorization": session.json()["token"]}
        )
        assert listed.status_code == 200 and listed.json()["count"] == 50
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
