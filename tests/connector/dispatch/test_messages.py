"""What a message says is true for the customer's history: it refers only to what really went out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.administration import Company
from connector.dispatch.messages import InvoiceLine, MessageContext, MessageRenderer

RENDERER = MessageRenderer()


def lines(count: int) -> list[InvoiceLine]:
    return [
        InvoiceLine(f"2026-000{n}", date(2026, 1, 1), date(2026, 1, 31), Decimal("100"), Decimal("100"))
        for n in range(1, count + 1)
    ]


def context(stage: str, language: str, reminded_on: list[date], letter_sent_on: date | None) -> MessageContext:
    return MessageContext(
        language=language,
        stage=stage,
        legal_letter=stage == "ingebrekestelling",
        debtor_kind="consumer",
        company_name="Bakkerij De Vries",
        contact_name="Eva Bakker",
        currency="EUR",
        invoices=[InvoiceLine("2026-0001", date(2026, 1, 1), date(2026, 1, 31), Decimal("100"), Decimal("100"))],
        principal=Decimal("100.00"),
        collection_costs=Decimal("40.00"),
        interest=None,
        sent_on=date(2026, 11, 24),
        deadline=date(2026, 12, 9),
        reminded_on=reminded_on,
        letter_sent_on=letter_sent_on,
    )


def opening(
    stage: str,
    language: str,
    reminded_on: list[date],
    letter_sent_on: date | None,
    invoices: int = 1,
    reminded_invoices: list[str] | None = None,
) -> tuple[str, str]:
    """The first sentence of the text and of the HTML body."""
    base = context(stage, language, reminded_on, letter_sent_on)
    base = replace(
        base, invoices=lines(invoices), principal=Decimal(100 * invoices), reminded_invoices=reminded_invoices
    )
    message = RENDERER.render(stage, base)
    text = message.text.split("\n\n")[1].split(". ")[0]
    html = message.html.split("<p>", 2)[2].split(". ")[0] if message.html.count("<p>") > 1 else message.html
    return text, html


@pytest.mark.parametrize(
    ("language", "reminded_on", "expected"),
    [
        ("nl", [], "Wij hebben uw betaling nog niet ontvangen"),
        ("nl", [date(2026, 5, 3)], "Ondanks onze herinnering van 3 mei 2026 hebben wij uw betaling nog niet ontvangen"),
        (
            "nl",
            [date(2026, 5, 3), date(2026, 5, 17)],
            "Ondanks onze herinneringen van 3 mei en 17 mei 2026 hebben wij uw betaling nog niet ontvangen",
        ),
        ("en", [], "We have not received your payment"),
        ("en", [date(2026, 5, 3)], "Despite our reminder of 3 May 2026, we have not received your payment"),
        (
            "en",
            [date(2025, 12, 20), date(2026, 1, 6)],
            "Despite our reminders of 20 December 2025 and 6 January 2026, we have not received your payment",
        ),
    ],
)
def test_the_aanmaning_names_the_reminders_that_went_out(language: str, reminded_on: list[date], expected: str) -> None:
    assert opening("aanmaning", language, reminded_on, None)[0] == expected


@pytest.mark.parametrize(
    ("language", "reminded", "expected"),
    [
        ("nl", ["2026-0002"], "Op 3 mei 2026 herinnerden wij u aan factuur 2026-0002; de andere facturen hieronder"),
        (
            "nl",
            ["2026-0001", "2026-0003"],
            "Op 3 mei 2026 herinnerden wij u aan de facturen 2026-0001 en 2026-0003; de",
        ),
        ("nl", ["2026-0001", "2026-0002", "2026-0003"], "Ondanks onze herinnering van 3 mei 2026 hebben wij"),
        ("en", ["2026-0002"], "On 3 May 2026 we reminded you about invoice 2026-0002; the other invoices below are"),
        ("en", ["2026-0001", "2026-0003"], "On 3 May 2026 we reminded you about invoices 2026-0001 and 2026-0003; the"),
    ],
)
def test_a_reminder_is_named_for_the_invoices_it_was_about(language: str, reminded: list[str], expected: str) -> None:
    """One message may cover an invoice that joined from an earlier stage: the letter says which were reminded,
    and does not open with "Despite" as if all of them had been."""
    message = RENDERER.render(
        "aanmaning",
        replace(
            context("aanmaning", language, [date(2026, 5, 3)], None),
            invoices=lines(3),
            reminded_invoices=reminded,
        ),
    )
    assert expected in message.text and expected in message.html


def test_an_invoice_number_from_the_ledger_is_escaped_in_the_html() -> None:
    base = context("ingebrekestelling", "nl", [date(2026, 5, 3)], None)
    message = RENDERER.render("ingebrekestelling", replace(base, invoices=lines(2), reminded_invoices=["<b>&1"]))
    assert "factuur <b>&1;" in message.text
    assert "factuur &lt;b&gt;&amp;1;" in message.html and "<b>&1" not in message.html


@given(
    language=st.sampled_from(["nl", "en"]),
    stage=st.sampled_from(["aanmaning", "ingebrekestelling", "final_notice"]),
    gaps=st.lists(st.integers(1, 60), max_size=4),
    letter=st.booleans(),
    invoices=st.integers(1, 3),
    about=st.sets(st.integers(1, 3), min_size=1),
)
def test_every_claim_about_earlier_messages_is_true(
    language: str, stage: str, gaps: list[int], letter: bool, invoices: int, about: set[int]
) -> None:
    first = date(2026, 1, 5)
    reminded_on = [first + timedelta(days=sum(gaps[: i + 1])) for i in range(len(gaps))]
    letter_sent_on = (reminded_on[-1] if reminded_on else first) + timedelta(days=7) if letter else None
    if stage == "ingebrekestelling":
        letter_sent_on = None  # the letter itself: no letter went out before it
    reminded = sorted(f"2026-000{n}" for n in about if n <= invoices) if reminded_on else []
    reminded_on = reminded_on if reminded else []  # the reminders that went out were about some of these invoices
    text, html = opening(stage, language, reminded_on, letter_sent_on, invoices, reminded)
    lowered = text.lower()
    reminder_word = "herinnering" if language == "nl" else "reminder"
    letter_word = "ingebrekestelling" if language == "nl" else "notice of default"
    if letter_sent_on is not None and stage == "final_notice":
        assert letter_word in lowered and str(letter_sent_on.day) in text
        assert reminder_word not in lowered
    elif reminded_on and reminded:
        if len(reminded) < invoices:  # about some of them: "Op 3 mei herinnerden wij u aan factuur ..."
            assert ("herinnerden wij u" if language == "nl" else "we reminded you") in lowered
            assert not lowered.startswith(("ondanks", "despite"))
        else:
            plural = (reminder_word + ("en" if language == "nl" else "s")) in lowered
            assert reminder_word in lowered and plural == (len(reminded_on) > 1)
        for day in reminded_on:
            assert str(day.day) in text
        # it names the invoices it reminded of when not all of them, and never one it did not
        named = [f"2026-000{n}" for n in range(1, invoices + 1) if f"2026-000{n}" in text]
        assert named == (reminded if len(reminded) < invoices else [])
    else:
        assert "herinner" not in lowered and "remind" not in lowered and letter_word not in lowered
    assert text.replace("'", "&#39;") in html  # the HTML part says the same


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_message_names_its_sender_as_the_law_wants(language: str) -> None:
    sender = Company(
        name="Bakkerij De Vries",
        legal_name="De Vries & Zn. Bakkerijen B.V.",
        kvk="12345678",
        vat_number="NL123456789B01",
        address="Bakkersstraat 1, 3511 AB Utrecht",
        statutory_seat="Utrecht",
    )
    message = RENDERER.render("reminder", replace(context("reminder", language, [], None), sender=sender))
    seat = "statutair gevestigd te Utrecht" if language == "nl" else "registered office in Utrecht"
    kvk = "KvK 12345678" if language == "nl" else "Chamber of Commerce (KvK) 12345678"
    footer = message.text.rsplit("\n--\n", 1)[1]
    assert footer.splitlines() == [
        f"De Vries & Zn. Bakkerijen B.V., {seat}",
        "Bakkersstraat 1, 3511 AB Utrecht",
        f"{kvk} · {'btw-nummer' if language == 'nl' else 'VAT'} NL123456789B01",
    ]
    assert f"De Vries &amp; Zn. Bakkerijen B.V., {seat}<br>Bakkersstraat 1, 3511 AB Utrecht<br>{kvk}" in message.html


def test_payment_instructions_agree_with_one_or_several_invoices() -> None:
    one = replace(context("reminder", "nl", [], None), company_iban="NL91ABNA0417164300")
    two = replace(one, invoices=[*one.invoices, replace(one.invoices[0], number="2026-0002")])
    assert "onder vermelding van het factuurnummer." in RENDERER.render("reminder", one).text
    assert "onder vermelding van de factuurnummers." in RENDERER.render("reminder", two).text


@pytest.mark.parametrize(
    ("language", "handed_to", "pay_there"),
    [
        (
            "nl",
            "uit handen gegeven aan Incasso Noord B.V.; u hoort er voortaan van hen.",
            "graag voortaan aan Incasso Noord B.V., niet meer aan ons.",
        ),
        ("en", "handed the claim below over to Incasso Noord B.V.", "to Incasso Noord B.V. from now on, not to us."),
    ],
)
def test_a_handover_message_names_the_agency_and_sends_payments_there(
    language: str, handed_to: str, pay_there: str
) -> None:
    """After the handover the customer pays the agency: no creditor's IBAN, no 'disregard this message'."""
    handover = replace(
        context("handover", language, [], None), company_iban="NL91ABNA0417164300", agency="Incasso Noord B.V."
    )
    message = RENDERER.render("handover", handover)
    for part in (message.text, message.html):
        assert handed_to in part and pay_there in part
        assert "NL91ABNA0417164300" not in part
        assert "niet verzonden" not in part and "disregard" not in part
    assert "Incasso Noord B.V." in message.subject and "Incasso Noord B.V." in message.note


@pytest.mark.parametrize(
    ("language", "count", "subject"),
    [
        ("nl", 1, "Aanmaning: factuur 2026-0001 is nog niet betaald"),
        ("nl", 2, "Aanmaning: 2 facturen zijn nog niet betaald"),
        ("en", 1, "Payment demand: invoice 2026-0001 still unpaid"),
        ("en", 2, "Payment demand: 2 invoices still unpaid"),
    ],
)
def test_subjects_agree_with_one_or_several_invoices(language: str, count: int, subject: str) -> None:
    one = context("aanmaning", language, [], None)
    lines = [replace(one.invoices[0], number=f"2026-000{n}") for n in range(1, count + 1)]
    assert RENDERER.render("aanmaning", replace(one, invoices=lines)).subject == subject


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("nl", "Daarnaast bent u vanaf de dag na de vervaldatum de wettelijke handelsrente verschuldigd. Die brengen"),
        ("en", "You also owe statutory commercial interest from the day after the due date. We will charge it"),
    ],
)
def test_interest_that_could_not_be_computed_is_announced_not_left_out(language: str, sentence: str) -> None:
    """No confirmed rate for part of the period: the letter says the interest follows, in words a debtor reads."""
    base = replace(context("final_notice", language, [], date(2026, 11, 2)), debtor_kind="business")
    pending = RENDERER.render("final_notice", replace(base, interest=None, interest_pending=True))
    assert sentence in pending.text and sentence in pending.html
    assert sentence not in RENDERER.render("final_notice", replace(base, interest=Decimal("3.40"))).text
