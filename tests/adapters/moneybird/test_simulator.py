"""The Moneybird simulator behaves like the official API, and its answers have the spec's shape.

Behaviour tests need nothing but the simulator; the shape tests validate every endpoint against the
official OpenAPI spec and skip when the shared reference folder is absent.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.moneybird.simulator import MoneybirdSimulator, parse_invoice_filter, period_range
from connector.ledger.simulation import Faults
from tests.adapters.moneybird.conftest import (
    ADMIN,
    COMPANY,
    DRAFT,
    LAST_YEAR,
    LATE,
    OPEN,
    PAID,
    PERSON,
    TODAY,
    TOKEN,
    seed,
)
from tests.support.openapi import OpenApiSpec

ADMINISTRATIONS = "/administrations{format}"
LIST = "/{administration_id}/sales_invoices{format}"
SYNC = "/{administration_id}/sales_invoices/synchronization{format}"
INVOICE = "/{administration_id}/sales_invoices/{id}{format}"
NOTES = "/{administration_id}/sales_invoices/{sales_invoice_id}/notes{format}"
PAYMENTS = "/{administration_id}/sales_invoices/{sales_invoice_id}/payments{format}"
PAUSE = "/{administration_id}/sales_invoices/{id}/pause{format}"
RESUME = "/{administration_id}/sales_invoices/{id}/resume{format}"
REMIND = "/{administration_id}/sales_invoices/send_reminders{format}"
DUBIOUS = "/{administration_id}/sales_invoices/{id}/mark_as_dubious{format}"
UNCOLLECTIBLE = "/{administration_id}/sales_invoices/{id}/mark_as_uncollectible{format}"
CONTACT_SYNC = "/{administration_id}/contacts/synchronization{format}"
CONTACT = "/{administration_id}/contacts/{id}{format}"
USERS = "/{administration_id}/users{format}"
IDENTITY = "/{administration_id}/identities/default{format}"

INVOICES = f"/{ADMIN}/sales_invoices"


def ids_of(response: httpx.Response) -> set[str]:
    return {item["id"] for item in response.json()}


def sync_ids(api: httpx.Client, filter_text: str | None = None) -> set[str]:
    params = {"filter": filter_text} if filter_text is not None else None
    response = api.get(f"{INVOICES}/synchronization.json", params=params)
    assert response.status_code == 200, response.text
    return ids_of(response)


def reminder(
    sim: MoneybirdSimulator, invoice_ids: list[str], contact_id: str = COMPANY, **extra: Any
) -> dict[str, Any]:
    """One `sales_invoice_reminders` item, with the workflow ids the seeded invoices share."""
    invoice = sim.get_invoice(ADMIN, OPEN)
    shared = {key: invoice[key] for key in ("workflow_id", "document_style_id", "identity_id")}
    return {"contact_id": contact_id, **shared, "sales_invoice_ids": invoice_ids, **extra}


# --- shape: every endpoint against the spec ----------------------------------------------------------

Call = Callable[[MoneybirdSimulator, httpx.Client], httpx.Response]


def _paused_then_resumed(sim: MoneybirdSimulator, api: httpx.Client) -> httpx.Response:
    api.post(f"{INVOICES}/{OPEN}/pause.json", json={})
    return api.post(f"{INVOICES}/{OPEN}/resume.json", json={})


def _throttled(sim: MoneybirdSimulator, api: httpx.Client) -> httpx.Response:
    sim.set_faults("429:1.0")
    return api.get(f"/{ADMIN}/users.json")


def _remind(sim: MoneybirdSimulator, api: httpx.Client, *invoice_ids: str) -> httpx.Response:
    return api.post(
        f"{INVOICES}/send_reminders.json", json={"sales_invoice_reminders": [reminder(sim, [*invoice_ids])]}
    )


PAY = {"payment": {"payment_date": "2026-08-21", "price": "363.0"}}


def get(path: str, **params: str) -> Call:
    return lambda sim, api: api.get(path, params=params or None)


def post(path: str, body: Any) -> Call:
    return lambda sim, api: api.post(path, json=body)


def patch(path: str, body: Any) -> Call:
    return lambda sim, api: api.patch(path, json=body)


CONTACTS = f"/{ADMIN}/contacts"
SHAPES: list[tuple[str, Call, str, str, int]] = [
    ("administrations", get("/administrations.json"), ADMINISTRATIONS, "get", 200),
    ("sync ids", get(f"{INVOICES}/synchronization.json"), SYNC, "get", 200),
    ("sync bad filter", get(f"{INVOICES}/synchronization", filter="state:x"), SYNC, "get", 400),
    ("sync fetch", post(f"{INVOICES}/synchronization.json", {"ids": [OPEN, PAID, DRAFT]}), SYNC, "post", 200),
    ("sync fetch no ids", post(f"{INVOICES}/synchronization.json", {}), SYNC, "post", 400),
    ("list", get(f"{INVOICES}.json", filter="period:202501..202612"), LIST, "get", 200),
    ("list per_page", get(f"{INVOICES}.json", per_page="0"), LIST, "get", 400),
    ("list open period", get(f"{INVOICES}.json", filter="period:..20260101"), LIST, "get", 400),
    ("get", get(f"{INVOICES}/{LATE}.json"), INVOICE, "get", 200),
    ("get missing", get(f"{INVOICES}/1.json"), INVOICE, "get", 404),
    ("unknown administration", get("/1/sales_invoices/1.json"), INVOICE, "get", 404),
    ("note", post(f"{INVOICES}/{OPEN}/notes.json", {"note": {"note": "x", "todo": True}}), NOTES, "post", 201),
    ("blank note", post(f"{INVOICES}/{OPEN}/notes.json", {"note": {"note": ""}}), NOTES, "post", 422),
    ("payment", post(f"{INVOICES}/{OPEN}/payments.json", PAY), PAYMENTS, "post", 201),
    ("payment no date", post(f"{INVOICES}/{OPEN}/payments.json", {"payment": {"price": 1}}), PAYMENTS, "post", 422),
    ("pause", post(f"{INVOICES}/{OPEN}/pause.json", {}), PAUSE, "post", 201),
    ("resume", _paused_then_resumed, RESUME, "post", 201),
    ("send reminders", lambda sim, api: _remind(sim, api, OPEN, LATE), REMIND, "post", 200),
    ("reminder not allowed", lambda sim, api: _remind(sim, api, PAID), REMIND, "post", 422),
    ("reminder incomplete", post(f"{INVOICES}/send_reminders.json", {}), REMIND, "post", 400),
    ("dubious", patch(f"{INVOICES}/{LATE}/mark_as_dubious.json", {}), DUBIOUS, "patch", 200),
    ("uncollectible", patch(f"{INVOICES}/{LATE}/mark_as_uncollectible.json", {}), UNCOLLECTIBLE, "patch", 200),
    ("contact ids", get(f"{CONTACTS}/synchronization.json"), CONTACT_SYNC, "get", 200),
    ("contact fetch", post(f"{CONTACTS}/synchronization.json", {"ids": [COMPANY, PERSON]}), CONTACT_SYNC, "post", 200),
    ("contact", get(f"{CONTACTS}/{PERSON}.json"), CONTACT, "get", 200),
    ("contact missing", get(f"{CONTACTS}/1.json"), CONTACT, "get", 404),
    ("contact patch", patch(f"{CONTACTS}/{COMPANY}.json", {"contact": {"city": "Delft"}}), CONTACT, "patch", 200),
    ("contact nameless", patch(f"{CONTACTS}/{COMPANY}.json", {"contact": {"company_name": ""}}), CONTACT, "patch", 422),
    ("users", get(f"/{ADMIN}/users.json", include_api_users="true"), USERS, "get", 200),
    ("default identity", get(f"/{ADMIN}/identities/default.json"), IDENTITY, "get", 200),
    ("rate limited", _throttled, USERS, "get", 429),
]


@pytest.mark.parametrize(("call", "path", "method", "status"), [pytest.param(*case[1:], id=case[0]) for case in SHAPES])
def test_responses_match_the_spec(
    sim: MoneybirdSimulator, api: httpx.Client, spec: OpenApiSpec, call: Call, path: str, method: str, status: int
) -> None:
    response = call(sim, api)
    assert response.status_code == status, response.text
    json_body = response.headers.get("content-type", "").startswith("application/json")
    spec.validate_response(path, method, status, response.json() if json_body else response.text)
    spec.validate_headers(path, method, status, response.headers)


def test_objects_fill_the_whole_schema(sim: MoneybirdSimulator, spec: OpenApiSpec) -> None:
    """Seed defaults and generated data carry every field of the spec's invoice and contact schemas."""
    schemas = spec.document["components"]["schemas"]
    generated = MoneybirdSimulator.generate(invoices=40, contacts=8, seed=1, today=TODAY)
    administration = generated.administration_ids[0]
    invoices = [sim.get_invoice(ADMIN, key) for key in sim.invoice_ids(ADMIN)]
    invoices += [generated.get_invoice(administration, key) for key in generated.invoice_ids(administration)]
    spec.validate_response(SYNC, "post", 200, invoices)
    assert all(set(invoice) == set(schemas["sales_invoice_response"]["properties"]) for invoice in invoices)
    contacts = [sim.get_contact(ADMIN, key) for key in sim.contact_ids(ADMIN)]
    contacts += [generated.get_contact(administration, key) for key in generated.contact_ids(administration)]
    spec.validate_response(CONTACT_SYNC, "post", 200, contacts)
    contact_fields = set(schemas["base_contact_response"]["properties"]) | {"events"}
    assert all(set(contact) == contact_fields for contact in contacts)


# --- reading ---------------------------------------------------------------------------------------------


def test_administrations_and_users(api: httpx.Client) -> None:
    administrations = api.get("/administrations.json").json()
    assert [(a["id"], a["name"], a["currency"]) for a in administrations] == [(ADMIN, "Testbedrijf B.V.", "EUR")]
    users = api.get(f"/{ADMIN}/users.json").json()
    assert [user["user_type"] for user in users] == ["owner"]
    with_api = api.get(f"/{ADMIN}/users.json", params={"include_api_users": "true"}).json()
    assert [user["user_type"] for user in with_api] == ["owner", "api_user"]


def test_synchronization_get_returns_every_invoice_id_with_its_version(api: httpx.Client) -> None:
    response = api.get(f"{INVOICES}/synchronization.json")
    assert ids_of(response) == {OPEN, LATE, PAID, LAST_YEAR, DRAFT}
    assert all(isinstance(item["version"], int) for item in response.json())


def test_synchronization_post_returns_full_invoices(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    body = {"ids": [int(OPEN), LATE, "999999999999999999"]}  # numbers accepted, unknown ids omitted
    response = api.post(f"{INVOICES}/synchronization.json", json=body)
    assert response.status_code == 200
    invoices = response.json()
    assert [invoice["id"] for invoice in invoices] == [OPEN, LATE]
    first = invoices[0]
    assert first["contact"]["id"] == COMPANY and "events" not in first["contact"]
    assert first["total_price_incl_tax"] == "363.0" and first["total_unpaid"] == "363.0"
    assert first["total_price_excl_tax"] == "300.0"
    assert first["state"] == "open" and invoices[1]["state"] == "late"
    assert first == sim.get_invoice(ADMIN, OPEN)


def test_synchronization_post_needs_ids(api: httpx.Client) -> None:
    response = api.post(f"{INVOICES}/synchronization.json", json={})
    assert response.status_code == 400
    assert response.json() == {"error": "Ids is required", "symbolic": {"ids": "required"}}


def test_synchronization_post_returns_at_most_100_invoices() -> None:
    with MoneybirdSimulator.generate(invoices=130, contacts=10, today=TODAY) as sim:
        administration = sim.administration_ids[0]
        wanted = sim.invoice_ids(administration)
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer t"}) as api:
            response = api.post(f"/{administration}/sales_invoices/synchronization.json", json={"ids": wanted})
    assert [invoice["id"] for invoice in response.json()] == wanted[:100]


def test_get_invoice_and_not_found(api: httpx.Client) -> None:
    response = api.get(f"{INVOICES}/{LATE}.json")
    assert response.status_code == 200
    assert response.json()["reference"] == "PO-1"
    assert api.get(f"{INVOICES}/{LATE}").json() == response.json()  # the .json suffix is optional

    missing = api.get(f"{INVOICES}/123.json")
    assert missing.status_code == 404
    assert missing.json() == {"error": "record not found", "symbolic": {"id": "not_found"}}


def test_unknown_administration_and_unknown_route_are_404(api: httpx.Client) -> None:
    response = api.get("/123/sales_invoices/synchronization.json")
    assert response.status_code == 404
    assert api.get(f"/{ADMIN}/no_such_thing.json").status_code == 404
    assert api.get(f"{INVOICES}/{OPEN}.xml").status_code == 404


def test_delete_invoice(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    assert api.delete(f"{INVOICES}/{DRAFT}.json").status_code == 204
    assert api.get(f"{INVOICES}/{DRAFT}.json").status_code == 404
    assert DRAFT not in sync_ids(api)
    assert DRAFT not in sim.invoice_ids(ADMIN)


def test_state_filter_with_alternatives(api: httpx.Client) -> None:
    assert sync_ids(api, "state:open|late,period:20250101..20261231") == {OPEN, LATE, LAST_YEAR}
    assert sync_ids(api, "state:paid,period:202601..202612") == {PAID}


def test_period_filter_matches_invoice_date(api: httpx.Client) -> None:
    assert sync_ids(api, "period:20260601..20260710") == {LATE, PAID}
    assert sync_ids(api, "period:202511..202511") == {LAST_YEAR}
    # a draft without invoice_date only matches a period that contains today
    assert DRAFT in sync_ids(api, "period:this_month") and DRAFT not in sync_ids(api, "period:prev_month")


def test_filter_without_period_means_this_year(api: httpx.Client) -> None:
    assert sync_ids(api, "state:late") == {LATE}  # LAST_YEAR is late too, but in 2025
    assert sync_ids(api, "contact_id:" + PERSON) == {PAID, DRAFT}
    assert LAST_YEAR in sync_ids(api)  # no filter at all: everything


def test_unknown_filter_keys_are_ignored(api: httpx.Client) -> None:
    assert sync_ids(api, "filter:open,period:20250101..20261231") == {OPEN, LATE, PAID, LAST_YEAR, DRAFT}


def test_invalid_filters_are_400(api: httpx.Client) -> None:
    response = api.get(f"{INVOICES}/synchronization.json", params={"filter": "state:nope"})
    assert response.status_code == 400
    assert response.json() == {"error": "Status is not included in the list", "symbolic": {"filter": "invalid"}}

    open_ended = api.get(f"{INVOICES}.json", params={"filter": "period:20260101.."})
    assert open_ended.status_code == 400
    assert open_ended.json() == {"error": "Period must have both a start and end date"}
    assert api.get(f"{INVOICES}.json", params={"filter": "period:someday"}).status_code == 400


def test_updated_after_filter(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    sim.update_invoice(ADMIN, OPEN, updated_at="2026-08-21T13:51:12.670Z")
    sim.update_invoice(ADMIN, LATE, updated_at="2026-08-21T13:50:00.000Z")
    changed = "updated_after:2026-08-21 13:50:12 UTC,period:20250101..20261231"
    assert OPEN in sync_ids(api, changed) and LATE not in sync_ids(api, changed)
    assert OPEN in sync_ids(api, "updated_after:2026-08-21T13:50:12Z,period:this_year")


def test_period_keywords() -> None:
    wednesday = date(2026, 8, 19)
    assert period_range("this_week", wednesday) == (date(2026, 8, 17), date(2026, 8, 23))
    assert period_range("prev_month", wednesday) == (date(2026, 7, 1), date(2026, 7, 31))
    assert period_range("next_quarter", wednesday) == (date(2026, 10, 1), date(2026, 12, 31))
    assert period_range("prev_quarter", date(2026, 2, 1)) == (date(2025, 10, 1), date(2025, 12, 31))
    assert period_range("next_year", wednesday) == (date(2027, 1, 1), date(2027, 12, 31))
    assert period_range("tomorrow", wednesday) is None
    assert parse_invoice_filter(None, wednesday, default_period=False).period is None
    assert parse_invoice_filter(None, wednesday, default_period=True).period == (date(2026, 1, 1), date(2026, 12, 31))


def test_list_pages_with_link_headers() -> None:
    with MoneybirdSimulator.generate(invoices=120, contacts=10, today=TODAY) as sim:
        administration = sim.administration_ids[0]
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer t"}) as api:
            path = f"/{administration}/sales_invoices.json"
            params = {"filter": "state:all,period:20250101..20261231"}
            seen: list[str] = []
            response = api.get(path, params={**params, "per_page": "50"})
            assert 'rel="prev"' not in response.headers["Link"]
            while True:
                seen += [invoice["id"] for invoice in response.json()]
                if 'rel="next"' not in response.headers.get("Link", ""):
                    break
                next_url = response.headers["Link"].split(">;")[0].lstrip("<")
                response = api.get(next_url)
            assert 'rel="prev"' in response.headers["Link"]
            assert len(response.json()) == 20
            assert seen == sim.invoice_ids(administration)

            too_many = api.get(path, params={**params, "per_page": "101"})
            assert too_many.status_code == 400
            assert too_many.json() == {"error": "per_page does not have a valid value"}
            beyond = api.get(path, params={**params, "per_page": "50", "page": "4"})
            assert beyond.json() == {"error": "page does not have a valid value"}
            assert api.get(path, params={**params, "page": "0"}).status_code == 400


# --- writes -------------------------------------------------------------------------------------------


def test_note_is_created_and_recorded(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    before = sim.get_invoice(ADMIN, OPEN)
    owner = api.get(f"/{ADMIN}/users.json").json()[0]["id"]
    body = {"note": {"note": "Herinnering 1 verstuurd", "todo": False, "assignee_id": owner}}
    response = api.post(f"{INVOICES}/{OPEN}/notes.json", json=body)
    assert response.status_code == 201
    note = response.json()
    assert note["entity_id"] == OPEN and note["entity_type"] == "SalesInvoice"
    assert note["todo"] is True and note["assignee_id"] == owner  # an assignee makes it a to-do
    after = sim.get_invoice(ADMIN, OPEN)
    assert after["notes"] == [note]
    assert after["events"][-1]["action"] == "note_created"
    assert after["version"] > before["version"]


def test_blank_note_is_422(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    response = api.post(f"{INVOICES}/{OPEN}/notes.json", json={"note": {"note": "  "}})
    assert response.status_code == 422
    assert response.json() == {"error": {"note": ["can't be blank"]}, "details": {"note": [{"error": "blank"}]}}
    assert sim.get_invoice(ADMIN, OPEN)["notes"] == []


def test_payments_settle_the_invoice_and_deleting_one_reopens_it(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    first = api.post(
        f"{INVOICES}/{LATE}/payments.json", json={"payment": {"payment_date": "2026-08-20", "price": "21,0"}}
    )
    assert first.status_code == 201
    assert first.json()["price"] == "21.0" and first.json()["invoice_id"] == LATE
    partly = sim.get_invoice(ADMIN, LATE)
    assert (partly["state"], partly["total_paid"], partly["total_unpaid"]) == ("late", "21.0", "100.0")

    rest = {"payment": {"payment_date": "2026-08-21T10:00:00.000Z", "price": "100.0"}}
    second = api.post(f"{INVOICES}/{LATE}/payments.json", json=rest).json()
    paid = sim.get_invoice(ADMIN, LATE)
    assert (paid["state"], paid["paid_at"], paid["total_unpaid"]) == ("paid", "2026-08-21", "0.0")
    assert [event["action"] for event in paid["events"][-2:]] == [
        "payment_registered",
        "sales_invoice_state_changed_to_paid",
    ]
    assert LATE in sync_ids(api, "state:paid")

    assert api.delete(f"{INVOICES}/{LATE}/payments/{second['id']}.json").status_code == 204
    reopened = sim.get_invoice(ADMIN, LATE)
    assert (reopened["state"], reopened["paid_at"], reopened["total_unpaid"]) == ("late", None, "100.0")
    assert [payment["id"] for payment in reopened["payments"]] == [first.json()["id"]]
    assert reopened["version"] > paid["version"] > partly["version"]
    assert api.delete(f"{INVOICES}/{LATE}/payments/{second['id']}.json").status_code == 404


def test_payment_needs_price_and_date(api: httpx.Client) -> None:
    response = api.post(f"{INVOICES}/{OPEN}/payments.json", json={"payment": {"price": "10.0"}})
    assert response.status_code == 422
    assert response.json()["error"] == {"payment_date": ["can't be blank"]}
    assert (
        api.post(f"{INVOICES}/{OPEN}/payments.json", json={"payment": {"payment_date": "2026-08-21"}}).status_code
        == 422
    )
    assert api.post(f"{INVOICES}/{OPEN}/payments.json", json={}).status_code == 400


def test_direct_add_payment_uses_decimal_arithmetic(sim: MoneybirdSimulator) -> None:
    for _ in range(3):
        sim.add_payment(ADMIN, OPEN, "0.1")
    invoice = sim.get_invoice(ADMIN, OPEN)
    assert (invoice["total_paid"], invoice["total_unpaid"]) == ("0.3", "362.7")
    sim.add_payment(ADMIN, OPEN, Decimal("362.70"), payment_date="2026-08-21")
    assert sim.invoice_ids(ADMIN, state="paid") == [OPEN, PAID]


def test_pause_and_resume(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    paused = api.post(f"{INVOICES}/{OPEN}/pause.json", json={})
    assert paused.status_code == 201
    assert (paused.json()["paused"], paused.json()["next_reminder"]) == (True, "2099-01-01")
    assert paused.json()["events"][-1]["action"] == "sales_invoice_paused"

    again = api.post(f"{INVOICES}/{OPEN}/pause.json", json={})
    assert (again.status_code, again.json()) == (422, {"error": "The sales_invoice is already paused"})

    resumed = api.post(f"{INVOICES}/{OPEN}/resume.json", json={})
    assert resumed.status_code == 201
    assert (resumed.json()["paused"], resumed.json()["next_reminder"]) == (False, "2026-08-24")
    again = api.post(f"{INVOICES}/{OPEN}/resume.json")
    assert (again.status_code, again.json()) == (422, {"error": "The sales_invoice isn't paused"})


def test_send_reminders(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    body = {
        "sales_invoice_reminders": [
            reminder(sim, [OPEN, LATE]),
            reminder(sim, [LAST_YEAR], PERSON, delivery_method="Manual"),
        ]
    }
    response = api.post(f"{INVOICES}/send_reminders.json", json=body)
    assert response.status_code == 200
    for invoice_id, channel in ((OPEN, "email"), (LATE, "email"), (LAST_YEAR, "manually")):
        invoice = sim.get_invoice(ADMIN, invoice_id)
        assert (invoice["state"], invoice["reminder_count"]) == ("reminded", 1)
        assert invoice["events"][-1]["action"] == f"sales_invoice_send_reminder_{channel}"
    assert sim.get_invoice(ADMIN, OPEN)["events"][-1]["data"] == {"email_address": "info@example.nl"}
    api.post(f"{INVOICES}/send_reminders.json", json={"sales_invoice_reminders": [reminder(sim, [OPEN])]})
    assert sim.get_invoice(ADMIN, OPEN)["reminder_count"] == 2


def test_send_reminders_validates_everything_first(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    missing = api.post(f"{INVOICES}/send_reminders.json", json={"sales_invoice_reminders": [{"contact_id": COMPANY}]})
    assert missing.status_code == 400
    assert "sales_invoice_reminders[0][workflow_id] is missing" in missing.json()["error"]
    assert api.post(f"{INVOICES}/send_reminders.json", json={}).status_code == 400

    wrong_contact = {"sales_invoice_reminders": [reminder(sim, [OPEN]), reminder(sim, [OPEN], PERSON)]}
    response = api.post(f"{INVOICES}/send_reminders.json", json=wrong_contact)
    assert response.status_code == 422
    paid = api.post(
        f"{INVOICES}/send_reminders.json", json={"sales_invoice_reminders": [reminder(sim, [PAID], PERSON)]}
    )
    assert paid.status_code == 422
    assert sim.get_invoice(ADMIN, OPEN)["reminder_count"] == 0  # nothing was sent


def test_mark_as_dubious_and_uncollectible(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    dubious = api.patch(f"{INVOICES}/{LATE}/mark_as_dubious.json", json={})
    assert dubious.status_code == 200
    assert (dubious.json()["state"], dubious.json()["marked_dubious_on"]) == ("late", "2026-08-21")

    lost = api.patch(f"{INVOICES}/{LATE}/mark_as_uncollectible.json", json={"uncollectible_date": "2026-08-20"})
    assert lost.status_code == 200
    assert (lost.json()["state"], lost.json()["marked_uncollectible_on"]) == ("uncollectible", "2026-08-20")
    assert lost.json()["total_unpaid"] == "121.0"
    assert [event["action"] for event in lost.json()["events"][-2:]] == [
        "sales_invoice_state_changed_to_uncollectible",
        "sales_invoice_marked_as_uncollectible",
    ]


# --- contacts ------------------------------------------------------------------------------------------


def test_contact_synchronization_and_get(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    versions = api.get(f"/{ADMIN}/contacts/synchronization.json").json()
    assert {item["id"] for item in versions} == {COMPANY, PERSON}
    contacts = api.post(f"/{ADMIN}/contacts/synchronization.json", json={"ids": [PERSON, int(COMPANY)]}).json()
    assert [contact["id"] for contact in contacts] == [PERSON, COMPANY]
    assert contacts[0]["events"][0]["action"] == "contact_created"

    single = api.get(f"/{ADMIN}/contacts/{COMPANY}.json")
    assert single.json() == sim.get_contact(ADMIN, COMPANY)
    missing = api.get(f"/{ADMIN}/contacts/1.json")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "record not found", "symbolic": {"id": "not_found"}},
    )


def test_patch_contact_changes_what_invoices_embed(api: httpx.Client, sim: MoneybirdSimulator) -> None:
    before = sim.get_contact(ADMIN, COMPANY)
    change = {"contact": {"send_invoices_to_email": "debiteuren@example.nl", "no_such_field": "ignored"}}
    response = api.patch(f"/{ADMIN}/contacts/{COMPANY}.json", json=change)
    assert response.status_code == 200
    assert response.json()["version"] > before["version"]
    assert "no_such_field" not in response.json()
    assert sim.get_invoice(ADMIN, OPEN)["contact"]["send_invoices_to_email"] == "debiteuren@example.nl"

    nameless = {"contact": {"company_name": "", "firstname": None}}
    invalid = api.patch(f"/{ADMIN}/contacts/{COMPANY}.json", json=nameless)
    assert invalid.status_code == 422


# --- state rules ---------------------------------------------------------------------------------------


def test_versions_strictly_increase_within_one_second(sim: MoneybirdSimulator) -> None:
    versions = []
    for number in range(5):
        sim.update_invoice(ADMIN, OPEN, reference=f"R{number}")
        versions.append(sim.get_invoice(ADMIN, OPEN)["version"])
    assert versions == sorted(set(versions)) and len(versions) == 5
    invoice = sim.get_invoice(ADMIN, OPEN)
    assert invoice["updated_at"].endswith("Z") and len(invoice["updated_at"]) == 24


def test_seed_defaults(sim: MoneybirdSimulator) -> None:
    invoice = sim.get_invoice(ADMIN, OPEN)
    assert invoice["administration_id"] == ADMIN and invoice["contact_id"] == COMPANY  # numbers became strings
    assert (invoice["invoice_id"], invoice["due_date"], invoice["next_reminder"]) == (
        "2026-00001",
        "2026-08-24",
        "2026-08-24",
    )
    assert (invoice["total_price_excl_tax"], invoice["total_paid"], invoice["total_unpaid_base"]) == (
        "300.0",
        "0.0",
        "363.0",
    )
    assert invoice["tax_totals"][0]["tax_amount"] == "63.0" and invoice["details"][0]["price"] == "300.0"
    assert [event["action"] for event in invoice["events"]] == [
        "sales_invoice_created",
        "sales_invoice_state_changed_to_open",
        "sales_invoice_send_email",
    ]
    assert isinstance(invoice["version"], int) and invoice["payment_reference"].startswith("RF")
    assert sim.get_invoice(ADMIN, LATE)["total_price_incl_tax"] == "121.0"
    assert (sim.get_invoice(ADMIN, PAID)["state"], sim.get_invoice(ADMIN, PAID)["total_unpaid"]) == ("paid", "0.0")
    draft = sim.get_invoice(ADMIN, DRAFT)
    assert (draft["invoice_id"], draft["invoice_date"], draft["sent_at"]) == (None, None, None)
    contact = sim.get_contact(ADMIN, PERSON)
    assert (contact["firstname"], contact["country"], contact["send_invoices_to_email"]) == (
        "Sanne",
        "NL",
        "sanne@example.com",
    )
    assert contact["customer_id"] == "2" and contact["sepa_sequence_type"] == "RCUR"


def test_bad_seed_data_is_served_as_given() -> None:
    bad = {
        "id": "200000000000000009", "contact_id": COMPANY, "due_date": None,
        "total_price_incl_tax": "abc", "total_unpaid": "abc", "events": "not a list",
    }  # fmt: skip
    data = seed()
    data["administrations"][0]["sales_invoices"].append(bad)
    with (
        MoneybirdSimulator(data, today=TODAY) as sim,
        httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer t"}) as api,
    ):
        served = api.get(f"{INVOICES}/{bad['id']}.json").json()
        assert (served["due_date"], served["total_unpaid"], served["events"]) == (None, "abc", "not a list")
        assert served["total_price_incl_tax"] == "abc"
        payment = {"payment": {"payment_date": "2026-08-21", "price": "10.0"}}
        assert api.post(f"{INVOICES}/{bad['id']}/payments.json", json=payment).status_code == 201
        assert api.post(f"{INVOICES}/{bad['id']}/pause.json", json={}).status_code == 201
        after = api.get(f"{INVOICES}/{bad['id']}.json").json()
    assert (after["total_unpaid"], after["total_paid"]) == ("abc", "10.0")


def test_embedded_contact_in_a_seed_becomes_a_contact() -> None:
    embedded = {"id": "200000000000000010", "contact": {"id": 100000000000000077, "company_name": "Ingesloten B.V."}}
    sim = MoneybirdSimulator({"administrations": [{"id": ADMIN, "sales_invoices": [embedded]}]}, today=TODAY)
    invoice = sim.get_invoice(ADMIN, "200000000000000010")
    assert invoice["contact_id"] == "100000000000000077"
    assert invoice["contact"]["company_name"] == "Ingesloten B.V."


# --- auth, rate limit, faults, request log -------------------------------------------------------------


def test_a_bearer_token_is_required(sim: MoneybirdSimulator) -> None:
    response = httpx.get(f"{sim.base_url}/administrations.json")
    assert response.status_code == 401
    assert isinstance(response.json()["error"], str)


def test_valid_tokens_are_enforced() -> None:
    data = {**seed(), "tokens": ["from-seed"]}

    def statuses(sim: MoneybirdSimulator, *tokens: str) -> list[int]:
        with httpx.Client(base_url=sim.base_url) as plain:
            auth = [{"Authorization": f"Bearer {token}"} for token in tokens]
            return [plain.get("/administrations.json", headers=headers).status_code for headers in auth]

    with MoneybirdSimulator(data, today=TODAY) as sim:
        assert statuses(sim, "from-seed", "other") == [200, 401]
    with MoneybirdSimulator(data, valid_tokens={"explicit"}, today=TODAY) as sim:
        assert statuses(sim, "explicit", "from-seed") == [200, 401]


@pytest.fixture
def limited() -> Iterator[tuple[MoneybirdSimulator, httpx.Client]]:
    with (
        MoneybirdSimulator(seed(), rate_limit=5, rate_window_seconds=0.5, today=TODAY) as sim,
        httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as api,
    ):
        yield sim, api


def test_rate_limit_window_and_headers(limited: tuple[MoneybirdSimulator, httpx.Client]) -> None:
    sim, api = limited
    started = time.time()
    statuses = [api.get(f"/{ADMIN}/users.json").status_code for _ in range(5)]
    sim_control = httpx.get(f"{sim.base_url.removesuffix('/api/v2')}/_simulator/requests")  # never counted
    assert statuses == [200] * 5 and sim_control.status_code == 200
    throttled = api.get(f"/{ADMIN}/users.json")
    assert throttled.status_code == 429
    assert throttled.text == "Retry later" and throttled.headers["content-type"].startswith("text/plain")
    reset = int(throttled.headers["RateLimit-Reset"])
    assert throttled.headers["Retry-After"] == str(reset)  # epoch seconds, not a delay
    assert started < reset <= math.ceil(started + 0.5) + 1
    assert throttled.headers["RateLimit-Limit"] == "5" and throttled.headers["RateLimit-Remaining"] == "0"
    assert api.get(f"/{ADMIN}/users.json").status_code == 429  # refused requests do not move the window
    other = api.get(f"/{ADMIN}/users.json", headers={"Authorization": "Bearer someone-else"})
    assert other.status_code == 200  # the limit is per token

    # The window itself ends 0.5 s after its first request (which a loaded machine may have sent late): the
    # first request to pass again comes after that, and not much later.
    time.sleep(max(0.0, started + 0.5 - time.time()))
    refused, deadline = 2, time.monotonic() + 5
    while (status := api.get(f"/{ADMIN}/users.json").status_code) == 429 and time.monotonic() < deadline:
        refused += 1
        time.sleep(0.05)
    assert status == 200 and time.time() >= started + 0.5
    assert [entry["status"] for entry in sim.requests()].count(429) == refused


@pytest.mark.parametrize(
    ("kind", "statuses"), [("500", {500}), ("502", {502}), ("503", {503}), ("5xx", {500, 502, 503})]
)
def test_server_error_faults(sim: MoneybirdSimulator, api: httpx.Client, kind: str, statuses: set[int]) -> None:
    sim.set_faults(f"{kind}:1.0", seed=3)
    seen = {api.get("/administrations.json").status_code for _ in range(12)}
    assert seen <= statuses and (len(seen) > 1 or kind != "5xx")
    assert {entry["status"] for entry in sim.requests()} == seen


def test_timeout_fault_stalls_then_processes() -> None:
    with MoneybirdSimulator(seed(), faults=Faults("timeout:1.0", timeout_seconds=0.2), today=TODAY) as sim:
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer t"}) as slow_api:
            started = time.monotonic()
            response = slow_api.post(f"{INVOICES}/{OPEN}/notes.json", json={"note": {"note": "late but done"}})
            assert time.monotonic() - started >= 0.2
            with pytest.raises(httpx.ReadTimeout):
                slow_api.post(f"{INVOICES}/{OPEN}/notes.json", json={"note": {"note": "given up"}}, timeout=0.05)
            time.sleep(0.3)  # let the stalled request finish
        assert response.status_code == 201
        notes = [note["note"] for note in sim.get_invoice(ADMIN, OPEN)["notes"]]
        assert notes == ["late but done", "given up"]  # the client gave up, the ledger did not
        assert [entry["status"] for entry in sim.requests()] == [201, 201]


def test_drop_fault_closes_without_answer_and_does_nothing(sim: MoneybirdSimulator, api: httpx.Client) -> None:
    sim.set_faults("drop:1.0")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"{INVOICES}/{OPEN}/notes.json", json={"note": {"note": "lost"}})
    assert sim.get_invoice(ADMIN, OPEN)["notes"] == []
    assert sim.requests()[-1]["status"] == 0


def test_malformed_fault_answers_broken_json_and_does_nothing(sim: MoneybirdSimulator, api: httpx.Client) -> None:
    sim.set_faults("malformed:1.0")
    response = api.post(f"{INVOICES}/{OPEN}/notes.json", json={"note": {"note": "lost"}})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert sim.get_invoice(ADMIN, OPEN)["notes"] == []


def test_429_fault_starts_a_burst_for_that_token(sim: MoneybirdSimulator, api: httpx.Client) -> None:
    control = sim.base_url.removesuffix("/api/v2")
    assert httpx.post(f"{control}/_simulator/faults", json={"spec": "429:1.0", "seed": 1}).status_code == 200
    first = api.get("/administrations.json")
    assert httpx.post(f"{control}/_simulator/faults", json={"spec": None}).status_code == 200
    second = api.get("/administrations.json")
    assert first.status_code == second.status_code == 429
    reset = int(first.headers["Retry-After"])
    assert time.time() < reset <= time.time() + 3 and first.headers["RateLimit-Reset"] == str(reset)
    other = api.get("/administrations.json", headers={"Authorization": "Bearer another"})
    assert other.status_code == 200
    assert httpx.post(f"{control}/_simulator/faults", json={"spec": "explode:1"}).status_code == 400


def test_faults_are_reproducible_for_a_seed() -> None:
    def run() -> list[int]:
        with (
            MoneybirdSimulator(seed(), faults=Faults("5xx:0.3,malformed:0.2", seed=7), today=TODAY) as sim,
            httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer t"}) as api,
        ):
            return [api.get("/administrations.json").status_code for _ in range(20)]

    first = run()
    assert first == run() and len(set(first)) > 1


def test_request_log(sim: MoneybirdSimulator, api: httpx.Client) -> None:
    api.get(f"{INVOICES}/synchronization.json", params={"filter": "state:open,period:this_year"})
    api.get(f"{INVOICES}/1.json")
    httpx.get(f"{sim.base_url}/administrations.json")  # no token
    control = f"{sim.base_url.removesuffix('/api/v2')}/_simulator/requests"
    logged = httpx.get(control).json()
    assert logged == sim.requests()
    assert [(e["method"], e["path"], e["status"]) for e in logged] == [
        ("GET", f"/api/v2{INVOICES}/synchronization.json", 200),
        ("GET", f"/api/v2{INVOICES}/1.json", 404),
        ("GET", "/api/v2/administrations.json", 401),
    ]
    assert logged[0]["query"] == {"filter": "state:open,period:this_year"}
    assert all(isinstance(e["time"], float) and abs(e["time"] - time.time()) < 60 for e in logged)
    assert TOKEN not in str(logged)
    assert httpx.delete(control).status_code == 204
    assert sim.requests() == []


# --- generator and CLI ---------------------------------------------------------------------------------


def test_generator_is_deterministic_and_realistic() -> None:
    first = MoneybirdSimulator.generate(invoices=300, contacts=60, seed=5, today=TODAY)
    second = MoneybirdSimulator.generate(invoices=300, contacts=60, seed=5, today=TODAY)
    administration = first.administration_ids[0]
    assert administration == second.administration_ids[0]
    invoices = [first.get_invoice(administration, key) for key in first.invoice_ids(administration)]
    assert invoices == [second.get_invoice(administration, key) for key in second.invoice_ids(administration)]

    contacts = [first.get_contact(administration, key) for key in first.contact_ids(administration)]
    assert {c["id"] for c in contacts} == {i["contact_id"] for i in invoices}  # everyone has an invoice
    companies = [c for c in contacts if c["company_name"]]
    assert 0.25 < len(companies) / len(contacts) < 0.55
    assert all(c["tax_number"].startswith("NL") and len(c["chamber_of_commerce"]) == 8 for c in companies)
    assert all(c["firstname"] and c["lastname"] for c in contacts if not c["company_name"])
    assert all(c["email"].split("@")[1].startswith("example.") for c in contacts)
    assert {i["workflow_id"] for i in invoices} == {invoices[0]["workflow_id"]}
    for invoice in invoices:
        excl, incl = Decimal(invoice["total_price_excl_tax"]), Decimal(invoice["total_price_incl_tax"])
        assert Decimal("25") <= incl <= Decimal("25000")
        assert incl - excl == (excl * Decimal("0.21")).quantize(Decimal("0.01"))
        assert sum(Decimal(d["price"]) for d in invoice["details"]) == excl
        assert invoice["total_unpaid"] == invoice["total_price_incl_tax"] and invoice["payments"] == []
        day, due = date.fromisoformat(invoice["invoice_date"]), date.fromisoformat(invoice["due_date"])
        assert 0 <= (TODAY - day).days < 120 and (due - day).days in (14, 30)
        assert invoice["state"] == ("late" if due < TODAY else "open")
    assert invoices[0]["invoice_id"] == "2026-00001"


def test_the_command_prints_the_url_first_and_stops_cleanly() -> None:
    code = "from adapters.moneybird.simulator import command; command(port=0)"
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:") and first.endswith("/api/v2")
        url = first.removeprefix("listening on ")
        response = httpx.get(f"{url}/administrations.json", headers={"Authorization": "Bearer any"})
        assert response.status_code == 200 and len(response.json()) == 1
        assert "any bearer token" in process.stdout.readline() + process.stdout.readline()
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
