"""Every template as a customer reads it: Dutch and English, consumer and business, one invoice and several,
rendered from a history that fits the stage. The renderings are kept in `snapshots/`, read by a person when
they change (`pytest tests/connector/dispatch/test_snapshots.py --update-snapshots` rewrites them)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector.dispatch.messages import InvoiceLine, MessageContext, MessageRenderer
from connector.workflow.legal import RateKind, collection_costs, interest_start, statutory_interest
from connector.workflow.policy import default_policy
from tests.support.sender import COMPANY

SNAPSHOTS = Path(__file__).with_name("snapshots")
RENDERER = MessageRenderer()
SENT_ON = date(2026, 11, 24)


def lines(count: int) -> list[InvoiceLine]:
    amounts = [Decimal("1234.50"), Decimal("60.50"), Decimal("121.00")]
    return [
        InvoiceLine(f"2026-00{41 + n}", date(2026, 9, 1 + n), date(2026, 10, 1 + n), amounts[n], amounts[n])
        for n in range(count)
    ]


def history(stage: str) -> dict[str, object]:
    """What went out before a message at this stage, in the default sequence."""
    return {
        "aanmaning": {"reminded_on": [date(2026, 11, 10)]},
        "ingebrekestelling": {"reminded_on": [date(2026, 11, 3), date(2026, 11, 17)]},
        "final_notice": {"reminded_on": [date(2026, 10, 14), date(2026, 10, 28)], "letter_sent_on": date(2026, 11, 4)},
        "handover": {"reminded_on": [date(2026, 10, 7), date(2026, 10, 21)], "letter_sent_on": date(2026, 10, 28)},
    }.get(stage, {})  # type: ignore[return-value]


def context(stage: str, language: str, kind: str, count: int) -> MessageContext:
    invoices = lines(count)
    principal = sum((i.open_amount for i in invoices), Decimal("0.00"))
    charges = stage in ("ingebrekestelling", "final_notice", "handover")
    letter = stage == "ingebrekestelling"
    rate = RateKind.STATUTORY if kind == "consumer" else RateKind.COMMERCIAL
    business = kind == "business"
    if charges and business:  # a business owes the costs per invoice, at least EUR 40 each
        invoices = [replace(line, costs=collection_costs(line.open_amount)) for line in invoices]
    interest = sum(
        (
            statutory_interest(i.open_amount, interest_start(i.due_date), SENT_ON, rate, allow_unverified=True)
            for i in invoices
        ),
        Decimal("0.00"),
    )
    terms = {"reminder": date(2026, 12, 1), "aanmaning": date(2026, 12, 1), "final_notice": date(2026, 11, 30)}
    return MessageContext(
        language=language,
        stage=stage,
        legal_letter=letter,
        debtor_kind=kind,
        company_name=COMPANY.name,
        company_email="debiteuren@bakkerij.example",
        company_iban=COMPANY.iban,
        contact_name="Eva Bakker" if kind == "consumer" else "Jansen Installatietechniek B.V.",
        currency="EUR",
        invoices=invoices,
        principal=principal,
        collection_costs=(
            sum((line.costs or Decimal(0) for line in invoices), Decimal("0.00"))
            if business
            else collection_costs(principal)
        )
        if charges
        else Decimal("0.00"),
        interest=interest if charges else Decimal("0.00"),
        sent_on=SENT_ON,
        deadline=date(2026, 12, 9) if letter else terms.get(stage),
        sender=COMPANY,
        recipient="eva@example.nl" if kind == "consumer" else "crediteuren@jansen.example",
        **history(stage),  # type: ignore[arg-type]
    )


CASES = [
    (stage.template_name, language, kind, count)
    for stage in default_policy().stages
    for language in ("nl", "en")
    for kind in ("consumer", "business")
    for count in (1, 3)
]


def render(stage: str, language: str, kind: str, count: int, variant: str = "") -> str:
    base = context(stage, language, kind, count)
    if variant == "joined":  # the earlier reminders were about one of the three invoices only
        base = replace(base, reminded_invoices=[base.invoices[0].number])
    if variant == "second-letter":  # a letter of 3 November stated EUR 185.18 on claims still open
        before = Decimal("185.18")
        whole = collection_costs(base.principal + Decimal("1234.50"))
        base = replace(
            base,
            collection_costs=max(Decimal(0), whole - before),
            costs_stated_before=before,
            costs_stated_before_on=date(2026, 11, 3),
            principal_stated_before=Decimal("1234.50"),
        )
    if variant == "covered-before":  # EUR 40 stated on 3 November for 100.00 still open: 160.50 bears no more
        small = lines(2)[1]
        base = replace(
            base,
            invoices=[small],
            principal=small.open_amount,
            interest=statutory_interest(
                small.open_amount, interest_start(small.due_date), SENT_ON, RateKind.STATUTORY, allow_unverified=True
            ),
            collection_costs=Decimal("0.00"),
            costs_stated_before=Decimal("40.00"),
            costs_stated_before_on=date(2026, 11, 3),
            principal_stated_before=Decimal("100.00"),
        )
    if variant == "capped":  # a subscription: the EUR 140 per six months on small periodic claims is used up
        base = replace(base, collection_costs=Decimal("0.00"), costs_capped=True)
    if variant == "credit":  # a credit note of 200.00 not yet applied in the ledger: set off before the costs
        costs = collection_costs(base.principal - Decimal("200.00"))
        base = replace(base, credit=Decimal("200.00"), credit_from=["2026-C007"], collection_costs=costs)
    if variant == "vat":  # a VAT-charging agency collects and the creditor cannot reclaim the VAT
        costs = collection_costs(base.principal, vat_rate=Decimal("21"))
        base = replace(base, collection_costs=costs, vat_percent=Decimal("21"), agency="Incasso Noord B.V.")
    message = RENDERER.render(stage, base)
    return f"Subject: {message.subject}\nNote: {message.note}\n\n{message.text}"


@pytest.mark.parametrize(("stage", "language", "kind", "count"), CASES)
def test_every_template_reads_as_its_snapshot(
    stage: str, language: str, kind: str, count: int, request: pytest.FixtureRequest
) -> None:
    check(request, f"{language}-{stage}-{kind}-{count}", render(stage, language, kind, count))


@pytest.mark.parametrize("stage", ["aanmaning", "ingebrekestelling"])
@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_message_covering_an_invoice_never_reminded_of_reads_as_its_snapshot(
    stage: str, language: str, request: pytest.FixtureRequest
) -> None:
    check(request, f"{language}-{stage}-consumer-3-joined", render(stage, language, "consumer", 3, "joined"))


@pytest.mark.parametrize("variant", ["second-letter", "covered-before", "capped"])
@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_consumers_later_legal_letter_states_only_the_costs_it_adds(
    variant: str, language: str, request: pytest.FixtureRequest
) -> None:
    count = 3 if variant == "second-letter" else 1
    rendered = render("ingebrekestelling", language, "consumer", count, variant)
    check(request, f"{language}-ingebrekestelling-consumer-{count}-{variant}", rendered)
    assert not re.search(r"€ ?0[,.]00\b", rendered), "a letter stating costs of nothing"


@pytest.mark.parametrize("stage", ["ingebrekestelling", "final_notice"])
def test_btw_on_the_costs_names_the_third_party_that_charges_it(stage: str, request: pytest.FixtureRequest) -> None:
    """BIK art. 2 lid 3: the letter says a VAT-charging third party collects and the creditor cannot reclaim it."""
    rendered = render(stage, "nl", "consumer", 1, "vat")
    check(request, f"nl-{stage}-consumer-1-vat", rendered)
    assert (
        "(inclusief 21% btw, die Incasso Noord B.V. ons voor de incasso in rekening brengt en die wij niet kunnen "
        "verrekenen)" in rendered
    )


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_credit_not_yet_applied_is_set_off_in_the_letter(language: str, request: pytest.FixtureRequest) -> None:
    rendered = render("ingebrekestelling", language, "consumer", 3, "credit")
    check(request, f"{language}-ingebrekestelling-consumer-3-credit", rendered)
    assert "1.216,00" in rendered or "1,216.00" in rendered  # 1,416.00 less 200.00, asked within the term


def check(request: pytest.FixtureRequest, name: str, rendered: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if request.config.getoption("--update-snapshots"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with --update-snapshots and read it"
    assert rendered == path.read_text(encoding="utf-8"), f"{path.name} changed: read the new text, then update"
