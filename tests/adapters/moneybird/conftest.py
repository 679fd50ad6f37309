"""Fixtures for the Moneybird simulator tests: a small hand-written administration on a fixed date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from adapters.moneybird.simulator import MoneybirdSimulator
from tests.support.openapi import OpenApiSpec, load_spec

TODAY = date(2026, 8, 21)
TOKEN = "test-token"
ADMIN = "300000000000000001"
COMPANY = "100000000000000001"
PERSON = "100000000000000002"
OPEN = "200000000000000001"  # due 2026-08-24
LATE = "200000000000000002"  # due 2026-07-15
PAID = "200000000000000003"
LAST_YEAR = "200000000000000004"  # invoice_date 2025-11-15, late
DRAFT = "200000000000000005"


def seed() -> dict[str, Any]:
    return {
        "administrations": [
            {
                "id": int(ADMIN),  # ids given as numbers must come back as strings
                "name": "Testbedrijf B.V.",
                "contacts": [
                    {"id": COMPANY, "company_name": "De Vries Bouw B.V.", "email": "info@example.nl"},
                    {"id": int(PERSON), "firstname": "Sanne", "lastname": "Bakker", "email": "sanne@example.com"},
                ],
                "sales_invoices": [
                    {"id": OPEN, "contact_id": COMPANY, "invoice_date": "2026-08-10", "due_date": "2026-08-24",
                     "total_price_incl_tax": "363.0"},
                    {"id": LATE, "contact_id": COMPANY, "invoice_date": "2026-07-01", "due_date": "2026-07-15",
                     "total_price_excl_tax": "100.0", "reference": "PO-1"},
                    {"id": PAID, "contact_id": int(PERSON), "invoice_date": "2026-06-01",
                     "total_price_incl_tax": "60.5", "total_paid": "60.5"},
                    {"id": LAST_YEAR, "contact_id": PERSON, "invoice_date": "2025-11-15",
                     "total_price_incl_tax": "242.0"},
                    {"id": DRAFT, "contact_id": PERSON, "state": "draft", "invoice_date": None},
                ],
            }
        ]
    }  # fmt: skip


@pytest.fixture(scope="session")
def spec() -> OpenApiSpec:
    return load_spec("moneybird-openapi.json")


@pytest.fixture
def sim() -> Iterator[MoneybirdSimulator]:
    with MoneybirdSimulator(seed(), today=TODAY) as simulator:
        yield simulator


@pytest.fixture
def api(sim: MoneybirdSimulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=5) as client:
        yield client
