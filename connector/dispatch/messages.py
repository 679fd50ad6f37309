"""Rendering reminder messages: sandboxed Jinja2 templates in Dutch and English, overridable from a folder.

A template set per stage: `{language}/{template}.subject.txt`, `.txt` and `.html` (and `.note.txt` for the
short note written back into the ledger). Amounts and dates are formatted for the message's language with
Babel; HTML is autoescaped, and nothing from the ledger (names, invoice numbers) can reach a header unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
import segno.helpers
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_currency
from jinja2 import (
    ChoiceLoader,
    DictLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from connector.workflow.legal import LETTER_TERM_WORDING

LANGUAGES = ("nl", "en")
LOCALES = {"nl": "nl_NL", "en": "en_GB"}
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f]+")
EPC_MAXIMUM = Decimal("999999999.99")  # the EPC QR code's largest amount


@dataclass(frozen=True)
class InvoiceLine:
    number: str
    invoice_date: date | None
    due_date: date
    open_amount: Decimal
    total: Decimal
    payment_url: str | None = None
    costs: Decimal | None = None  # the collection costs on this invoice, where charged per invoice (a business)


@dataclass(frozen=True)
class MessageContext:
    """Everything a template may use. Built by the dispatcher from the plan and the mirror."""

    language: str
    stage: str
    legal_letter: bool
    debtor_kind: str
    company_name: str
    contact_name: str
    currency: str
    invoices: Sequence[InvoiceLine]
    principal: Decimal
    collection_costs: Decimal
    interest: Decimal | None
    sent_on: date
    deadline: date | None
    recipient: str | None = None
    company_email: str | None = None
    company_iban: str | None = None
    vat_percent: Decimal | None = None  # BTW included in the collection costs (not reclaimable)
    # The customer's real history for these invoices, so a letter refers only to what was sent: the days our
    # earlier reminders went out (not the legal letter), and the day the legal letter did, if it did.
    reminded_on: Sequence[date] = ()
    # The numbers of this message's invoices those reminders were about; None: all of them. A customer's invoices
    # that reached different stages go out in one message, so a letter may cover an invoice never reminded of.
    reminded_invoices: Sequence[str] | None = None
    letter_sent_on: date | None = None
    sender: Any = None  # the administration's `Company`: the footer names it as the law wants
    agency: str | None = None  # the collection agency a handover goes to, when configured
    # Interest is due but could not be computed (no confirmed rate for part of the period): the letter says it
    # will be charged later instead of leaving it out without a word.
    interest_pending: bool = False
    # A consumer's later legal letter: the costs our earlier letter(s) on claims still open already stated, and
    # the day the last of them went out; `collection_costs` is only what the staffel on the whole adds.
    costs_stated_before: Decimal = Decimal(0)
    costs_stated_before_on: date | None = None
    principal_stated_before: Decimal = Decimal(0)  # what those earlier letters' costs were on
    costs_capped: bool = False  # lowered to the cap on small periodic claims (EUR 140 per six months)
    # The customer's credit notes and payments not yet applied, set off against these invoices (and named).
    credit: Decimal = Decimal(0)
    credit_from: Sequence[str] = ()
    # The printed letter's parts: the reference the notes in the ledger carry, the address lines for the envelope's
    # window, and the sender's logo as a data URI.
    reference: str = ""
    attached_invoices: Sequence[str] = ()  # the numbers of the invoices whose own PDF is attached
    recipient_address: Sequence[str] = ()
    logo: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def costs_conditional(self) -> bool:
        """In the consumer's 14-day letter the costs are a consequence of not paying within the term, not an
        amount due now (art. 6:96 lid 6 BW): the letter asks for the principal only."""
        return self.legal_letter and self.debtor_kind == "consumer"

    @property
    def payee(self) -> str:
        """The name a transfer goes to: the registered name, which the bank checks against the account's holder
        (the trading name may differ from it)."""
        legal = getattr(self.sender, "legal_name", None)
        return str(legal or self.company_name)

    @property
    def payable(self) -> Decimal:
        """The invoices' open amounts less what the customer has to their credit."""
        return max(Decimal(0), self.principal - self.credit)

    @property
    def total_due(self) -> Decimal:
        if self.costs_conditional:
            return self.payable
        return self.payable + self.collection_costs + (self.interest or Decimal(0))


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    note: str
    letter_html: str | None = None  # the same text laid out as a printed letter, when one was asked for


@dataclass(frozen=True)
class PaymentCode:
    """The QR code on a printed letter: the invoice's payment link where there is one, else an EPC (SEPA credit
    transfer) code that banking apps read into a transfer with the amount and the invoice numbers."""

    kind: str  # link | epc
    image: str  # a data URI (SVG)
    url: str | None = None


def header_safe(value: str) -> str:
    """A value from the ledger, fit for a mail header: no line breaks or control characters, bounded length."""
    return _UNSAFE_IN_HEADER.sub(" ", value).strip()[:200]


@lru_cache(maxsize=16)
def _environment(override_dir: str | None) -> SandboxedEnvironment:
    """One environment per template folder for the whole process, so each template is compiled once rather than on
    every dispatch run (a run builds its renderer anew). Jinja checks a file's modification time before reusing
    what it compiled, so an override edited while the daemon runs is picked up on its next use."""
    loaders: list[Any] = [PackageLoader("connector.dispatch", "templates")]
    if override_dir is not None:
        loaders.insert(0, FileSystemLoader(override_dir))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        cache_size=1000,
    )
    env.filters.update(money=_money, day=_day, days=_days, words=_words)
    return env


PARTS = ("subject.txt", "txt", "html", "note.txt")  # a stage's template set, per language


class MessageRenderer:
    def __init__(self, override_dir: Path | None = None, drafts: Mapping[str, str] | None = None) -> None:
        """`drafts`: template texts by name (`nl/reminder.html`) used instead of the files, for a person trying
        out a change before saving it (compiled afresh, never cached)."""
        self.override_dir = str(override_dir.resolve()) if override_dir is not None else None
        base = _environment(self.override_dir)
        self.env = base
        if drafts:
            assert base.loader is not None
            self.env = base.overlay(loader=ChoiceLoader([DictLoader(dict(drafts)), base.loader]), cache_size=0)

    def source(self, name: str) -> tuple[str, bool]:
        """A template's text, and whether it comes from the override folder rather than the built-in set."""
        assert self.env.loader is not None
        text, filename, _ = self.env.loader.get_source(self.env, name)
        overridden = self.override_dir is not None and filename is not None and filename.startswith(self.override_dir)
        return text, overridden

    def check(self, name: str) -> None:
        """Compile a template (raises TemplateSyntaxError with the line)."""
        self.env.get_template(name)

    def missing(self, template: str) -> list[str]:
        """The files a stage's template set lacks, in any language (checked by `connector check-config`)."""
        absent = []
        for language in LANGUAGES:
            for part in PARTS:
                try:
                    self.env.get_template(f"{language}/{template}.{part}")
                except TemplateNotFound:
                    absent.append(f"{language}/{template}.{part}")
        return absent

    def render(self, template: str, context: MessageContext, *, letter: bool = False) -> RenderedMessage:
        """The message in its parts; with `letter`, also its text laid out as a printed letter (the stage's own
        HTML template with `paper` set: one wording for the e-mail and the letter)."""
        language = context.language if context.language in LANGUAGES else "nl"
        variables = self._variables(context, language)
        parts = {}
        for part in PARTS:
            parts[part] = self._template(language, template, part).render(variables)
        letter_html = None
        if letter:
            code = payment_code(context)
            letter_html = self._template(language, template, "html").render({**variables, "paper": True, "qr": code})
        return RenderedMessage(
            subject=header_safe(parts["subject.txt"]),
            text=parts["txt"],
            html=parts["html"],
            note=" ".join(parts["note.txt"].split()),
            letter_html=letter_html,
        )

    def _template(self, language: str, template: str, part: str) -> Any:
        name = f"{language}/{template}.{part}"
        try:
            return self.env.get_template(name)
        except TemplateNotFound:
            raise TemplateNotFound(f"{name} (a stage needs subject, text, html and note templates)") from None

    def _variables(self, context: MessageContext, language: str) -> dict[str, Any]:
        return {
            "c": context,
            "invoices": context.invoices,
            "locale": LOCALES[language],
            "term_wording": LETTER_TERM_WORDING[language],
            "consumer": context.debtor_kind == "consumer",
            "paper": False,
            "qr": None,
        }


def payment_code(context: MessageContext) -> PaymentCode | None:
    """The letter's QR code: one invoice's payment link, or an EPC transfer for the amount due; none when there is
    nothing to pay by transfer (no IBAN, no link) or nothing due."""
    links = {line.payment_url for line in context.invoices if line.payment_url}
    if len(links) == 1 and len(context.invoices) == 1:
        url = next(iter(links))
        return PaymentCode("link", segno.make(url, error="m").svg_data_uri(scale=4, border=2), url)
    amount = context.total_due
    if not context.company_iban or amount <= 0 or context.currency != "EUR" or amount > EPC_MAXIMUM:
        return None
    numbers = " ".join(line.number for line in context.invoices)
    text = header_safe(f"{context.reference} {numbers}".strip())[:140]
    code = segno.helpers.make_epc_qr(
        name=context.payee[:70], iban=context.company_iban.replace(" ", ""), amount=amount, text=text
    )
    return PaymentCode("epc", code.svg_data_uri(scale=4, border=2))


@pass_context
def _money(template: Context, amount: Decimal | None) -> str:
    return format_currency(amount or Decimal(0), template["c"].currency, locale=template["locale"])


@pass_context
def _day(template: Context, value: date | None) -> str:
    return format_date(value, "d MMMM y", locale=template["locale"]) if value else ""


@pass_context
def _days(template: Context, values: Sequence[date]) -> str:
    """Dates as a list in words ("3 mei en 17 mei 2026"; "3 May and 17 May 2026"), the year once if shared."""
    locale = template["locale"]
    one_year = len({value.year for value in values}) == 1
    shown = [format_date(value, "d MMMM" if one_year else "d MMMM y", locale=locale) for value in values]
    if one_year and shown:
        shown[-1] = format_date(values[-1], "d MMMM y", locale=locale)
    return format_list(shown, locale=locale) if shown else ""


@pass_context
def _words(template: Context, values: Sequence[str]) -> str:
    """Items as a list in words ("2026-001, 2026-002 en 2026-003")."""
    return format_list(list(values), locale=template["locale"]) if values else ""
