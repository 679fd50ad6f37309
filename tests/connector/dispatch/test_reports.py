"""Reading what comes back: which of our messages a bounce, a delay or an auto-reply is about, and how hard."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from connector.config import EmailSection
from connector.dispatch.channels import Delivery, EmailChannel
from connector.dispatch.messages import RenderedMessage
from connector.dispatch.reports import read_report
from connector.domain import Invoice, InvoiceStatus, Money
from tests.support.bounces import dsn, out_of_office, plain_bounce

KEY = "0123456789abcdef0123456789abcdef"
AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def sent(to: str = "jan@example.nl") -> bytes:
    """A reminder exactly as the e-mail channel hands it to the SMTP server."""
    invoice = Invoice(
        ledger_id="1",
        number="2026-001",
        contact_id="c1",
        invoice_date=date(2026, 9, 1),
        due_date=date(2026, 10, 1),
        total=Money(Decimal("100.00"), "EUR"),
        open_amount=Money(Decimal("100.00"), "EUR"),
        status=InvoiceStatus.OPEN,
        ledger_state="open",
    )
    channel = EmailChannel(EmailSection(host="127.0.0.1", from_address="debiteuren@bakkerij.example"))
    delivery = Delivery(
        key=KEY,
        administration="acme",
        stage="aanmaning",
        invoices=[invoice],
        contact_name="Jan",
        contact_email=to,
        message=RenderedMessage("Aanmaning", "tekst", "<p>tekst</p>", "note"),
        planned={},
        sent_at=AT,
    )
    return channel.outgoing(delivery).content


def test_a_dsn_names_our_message_the_recipient_and_a_hard_status() -> None:
    report = read_report(dsn(sent(), "jan@example.nl", at=AT))
    assert report is not None
    assert report.kind == "bounced" and report.hard
    assert report.keys == (KEY,)
    assert [(r.address, r.action, r.status) for r in report.recipients] == [("jan@example.nl", "failed", "5.1.1")]
    assert "User unknown" in report.recipients[0].diagnostic
    assert report.at == AT


def test_a_delay_is_no_bounce() -> None:
    report = read_report(dsn(sent(), "jan@example.nl", status="4.2.1", action="delayed", at=AT))
    assert report is not None and report.kind == "delayed" and not report.hard


def test_a_failure_with_a_temporary_status_is_not_hard() -> None:
    report = read_report(dsn(sent(), "jan@example.nl", status="4.4.7", at=AT))
    assert report is not None and report.kind == "bounced" and not report.hard


def test_an_old_servers_plain_bounce_is_read_by_its_sender_subject_and_status() -> None:
    report = read_report(plain_bounce(sent(), "jan@example.nl", at=AT))
    assert report is not None and report.hard and report.keys == (KEY,)
    assert report.recipients[0].address == "jan@example.nl" and report.recipients[0].status == "5.1.1"


def test_an_out_of_office_reply_tells_the_message_arrived() -> None:
    report = read_report(out_of_office(sent(), at=AT))
    assert report is not None and report.kind == "auto_reply" and report.keys == (KEY,)


def test_mail_about_none_of_ours_and_a_customers_own_answer_are_left_alone() -> None:
    stranger = sent().replace(KEY.encode(), b"not-one-of-ours-at-all-000000000")
    assert read_report(dsn(stranger, "x@example.nl", at=AT)) is None
    answer = (
        b"From: jan@example.nl\r\nTo: debiteuren@bakkerij.example\r\nSubject: Re: Aanmaning\r\n"
        b"In-Reply-To: <" + KEY.encode() + b"@bakkerij.example>\r\n\r\nIk heb gisteren betaald.\r\n"
    )
    assert read_report(answer) is None  # for a person to read, not a delivery report
