"""Letters as PDF: the stage's own wording laid out as a letter, read back from the PDF as a recipient's program
would (pypdf), and its pages kept as PNG (pdftoppm) for a person to look at."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from connector.dispatch.letters import LetterError, letter_pdf, logo_data_uri
from connector.dispatch.messages import InvoiceLine, MessageContext, MessageRenderer, payment_code
from tests.support.sender import COMPANY
from tests.support.tools import artifacts, tool

CONSUMER = MessageContext(
    language="nl",
    stage="ingebrekestelling",
    legal_letter=True,
    debtor_kind="consumer",
    company_name=COMPANY.name,
    contact_name="Jan Jansen",
    currency="EUR",
    invoices=[
        InvoiceLine("2026-001", date(2026, 9, 1), date(2026, 10, 1), Decimal("250.00"), Decimal("250.00")),
        InvoiceLine("2026-007", date(2026, 9, 15), date(2026, 10, 15), Decimal("99.95"), Decimal("99.95")),
    ],
    principal=Decimal("349.95"),
    collection_costs=Decimal("52.49"),
    interest=Decimal("3.12"),
    sent_on=date(2026, 12, 4),
    deadline=date(2026, 12, 21),
    company_iban=COMPANY.iban,
    sender=COMPANY,
    reference="3f2a9c81d0e4",
    recipient_address=["Jan Jansen", "Dorpsstraat 12", "1234 AB Ergens"],
    reminded_on=[date(2026, 10, 20), date(2026, 11, 5)],
)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def render(context: MessageContext, template: str = "ingebrekestelling") -> bytes:
    message = MessageRenderer().render(template, context, letter=True)
    assert message.letter_html is not None
    return letter_pdf(message.letter_html)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("nl", ["Retouradres", "Ons kenmerk", "uiterlijk op 21 december 2026", "KvK 12345678", "€ 349,95", "€ 52,49"]),
        ("en", ["Return address", "Our reference", "by 21 December 2026", "12345678", "€349.95", "€52.49"]),
    ],
)
def test_the_legal_letter_as_pdf_carries_the_amounts_the_deadline_and_the_sender(
    language: str, words: list[str]
) -> None:
    pdf = render(replace(CONSUMER, language=language))
    text = " ".join(pdf_text(pdf).split())
    assert pdf.startswith(b"%PDF-")
    for word in words:
        assert word in text, word
    # the window: the recipient's address; the head: the reference the ledger's notes carry
    assert "Jan Jansen Dorpsstraat 12 1234 AB Ergens" in text
    assert "3f2a9c81d0e4" in text
    assert "2026-001" in text and "2026-007" in text
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1  # fits one sheet


def test_the_pdf_says_what_the_email_says() -> None:
    """One wording: the letter is the e-mail's own template laid out for paper, never a second text."""
    message = MessageRenderer().render("ingebrekestelling", CONSUMER, letter=True)
    assert message.letter_html is not None
    text = " ".join(pdf_text(letter_pdf(message.letter_html)).split())
    for sentence in (
        "Wij geven u de gelegenheid om het openstaande bedrag van € 349,95 te betalen",
        "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd",
        "Ondanks onze herinneringen van 20 oktober en 5 november 2026",
    ):
        assert sentence in " ".join(message.text.split()), sentence
        assert sentence in text, sentence


def test_one_invoice_with_a_payment_link_gets_its_link_as_qr_code_several_get_a_transfer_code() -> None:
    one = replace(
        CONSUMER,
        invoices=[replace(CONSUMER.invoices[0], payment_url="https://pay.example/i/123")],
        principal=Decimal("250.00"),
    )
    code = payment_code(one)
    assert code is not None and code.kind == "link" and code.url == "https://pay.example/i/123"
    assert "https://pay.example/i/123" in pdf_text(render(one))
    transfer = payment_code(CONSUMER)
    assert transfer is not None and transfer.kind == "epc" and transfer.image.startswith("data:image/svg+xml")
    assert payment_code(replace(CONSUMER, company_iban=None)) is None  # nothing to transfer to: no code


def test_a_business_letter_and_a_final_notice_render_too() -> None:
    business = replace(CONSUMER, debtor_kind="business", contact_name="Bouwbedrijf Jansen B.V.")
    text = " ".join(pdf_text(render(business)).split())
    assert "Hierbij stellen wij u in gebreke" in text and "artikel 6:96 BW" in text
    final = replace(CONSUMER, stage="final_notice", legal_letter=False, letter_sent_on=date(2026, 11, 20))
    text = " ".join(pdf_text(render(final, "final_notice")).split())
    assert "Totaal € 405,56" in text and "Te betalen: € 405,56, uiterlijk op 21 december 2026" in text


def test_a_letter_fetches_nothing_from_the_network(tmp_path: Path) -> None:
    """A value from the ledger can never make the renderer go online: only data: URIs are read."""
    with pytest.raises(LetterError, match="could not be rendered"):
        letter_pdf('<html><body><img src="http://127.0.0.1:9/tracker.png"></body></html>')
    logo = tmp_path / "logo.svg"
    logo.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="10"><rect width="40" height="10"/></svg>'
    )
    with_logo = replace(CONSUMER, logo=logo_data_uri(str(logo)))
    assert pdf_text(render(with_logo))
    with pytest.raises(LetterError, match="not a PNG, JPEG or SVG"):
        logo_data_uri(str(tmp_path / "logo.gif"))


def test_the_letters_pages_are_kept_as_pictures(tmp_path: Path) -> None:
    """The NL and EN legal letter as a person sees them (test-artifacts/letter-*.png)."""
    pdftoppm = tool("pdftoppm", "poppler-utils")
    for language in ("nl", "en"):
        pdf = tmp_path / f"letter-{language}.pdf"
        pdf.write_bytes(render(replace(CONSUMER, language=language)))
        target = artifacts() / f"letter-{language}"
        subprocess.run([pdftoppm, "-png", "-r", "80", "-singlefile", str(pdf), str(target)], check=True)
        picture = target.with_suffix(".png")
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000
