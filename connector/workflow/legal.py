"""Dutch legal arithmetic for the reminder workflow: collection costs, the 14-day letter, interest, allocation.

Pure functions on `date` and `Decimal`; the only I/O is reading the dated interest-rate table (`rates.toml`).
The legal reference with sources is legal-nl.md (kept beside the project); section numbers below point there.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from connector.domain import CENT, Contact
from connector.workflow.calendar import legal_holidays

ZERO = Decimal("0.00")
ONE_DAY = timedelta(days=1)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# --- debtor kind ------------------------------------------------------------------------------------------


class DebtorKind(StrEnum):
    CONSUMER = "consumer"
    BUSINESS = "business"


def debtor_kind(contact: Contact | None, override: DebtorKind | None = None) -> DebtorKind:
    """The regime for a debtor: a person's override wins; else business only on evidence
    (`Contact.business_evidence`); an unknown contact is a consumer, the stricter regime (§1.3)."""
    return debtor_kind_and_why(contact, override)[0]


def debtor_kind_and_why(contact: Contact | None, override: DebtorKind | None = None) -> tuple[DebtorKind, str]:
    """The regime and the rule that gave it, in words (shown by `connector history`)."""
    if override is not None:
        return override, f"{override.value}: set by a person (`connector exclude CONTACT --kind`)"
    if contact is None:
        return DebtorKind.CONSUMER, "consumer: the customer is not known here (unknown counts as consumer)"
    evidence = contact.business_evidence
    if evidence is not None:
        return DebtorKind.BUSINESS, f"business: {evidence}"
    if contact.kind_in_ledger == "consumer":
        return DebtorKind.CONSUMER, "consumer: marked as a private person in the ledger"
    return DebtorKind.CONSUMER, (
        "consumer: no KvK or VAT number, business flag or legal form in the ledger (unknown counts as consumer)"
    )


# --- collection costs (WIK / BIK) -------------------------------------------------------------------------

# BIK art. 2 lid 1 (Stb. 2012, 141): (width of the bracket or None for "the rest", rate).
_BIK_BRACKETS: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal("2500"), Decimal("0.15")),
    (Decimal("2500"), Decimal("0.10")),
    (Decimal("5000"), Decimal("0.05")),
    (Decimal("190000"), Decimal("0.01")),
    (None, Decimal("0.005")),
)
BIK_MINIMUM = Decimal("40.00")  # BIK art. 2 lid 2
BIK_MAXIMUM = Decimal("6775.00")  # BIK art. 2 lid 1, cap
BUSINESS_MINIMUM_COSTS = Decimal("40.00")  # art. 6:96 lid 4 BW: due in B2B without a reminder
RECURRING_CAP = Decimal("140.00")  # collection costs on small periodic claims, per six months (Wki, 1 October 2024)
RECURRING_SMALL = Decimal("266.67")  # a periodic amount under this is a small periodic claim (§1.4)


def collection_costs(principal: Decimal, *, vat_rate: Decimal | None = None) -> Decimal:
    """Extrajudicial collection costs by the BIK staffel on the principal (interest is not part of the base).

    Minimum 40.00, maximum 6,775.00, rounded half-up to cents; a principal of zero or less gives 0.00.
    Several invoices in one letter: pass their cumulative unpaid principal (§1.1).
    `vat_rate` (a percentage such as Decimal("21")) only when the creditor cannot reclaim the VAT it pays a
    collecting third party and says so in the letter (BIK art. 2 lid 3, §1.2); it marks up the minimum too.
    """
    if vat_rate is not None and vat_rate < 0:
        raise ValueError(f"vat_rate must not be negative, got {vat_rate}")
    if principal <= 0:
        return ZERO
    fee = Decimal(0)
    rest = principal
    for width, rate in _BIK_BRACKETS:
        part = rest if width is None else min(rest, width)
        fee += part * rate
        rest -= part
        if rest <= 0:
            break
    fee = _cents(min(max(fee, BIK_MINIMUM), BIK_MAXIMUM))
    if vat_rate is not None:
        fee = _cents(fee * (1 + vat_rate / 100))
    return fee


# --- the 14-day letter (art. 6:96 lid 6 BW, HR 2016:2704) -------------------------------------------------

Channel = Literal["post", "email"]

LETTER_TERM_WORDING: dict[str, str] = {
    # The wording HR 25 November 2016, ECLI:NL:HR:2016:2704 approves (§2.2).
    "nl": "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd",
    # Same meaning: day 1 of the term is the day after delivery.
    "en": "within fourteen days from the day after the day on which this letter is delivered to you",
}


@dataclass(frozen=True)
class LetterTerm:
    sent: date
    delivered: date  # presumed delivery (receipt) date
    last_day: date  # last day of the 14-day term, extended past weekends and holidays
    costs_due_from: date  # earliest day the collection costs are due (consumers)
    channel: str


def _post_closed(day: date) -> bool:
    """Sunday, Monday or a legal holiday: not counted for presumed postal delivery (HR 2016:2704)."""
    return day.weekday() in (6, 0) or day in legal_holidays(day.year)


def _term_closed(day: date) -> bool:
    """Saturday, Sunday or a legal holiday: a term does not end on such a day (conservative, §2.3)."""
    return day.weekday() >= 5 or day in legal_holidays(day.year)


def presumed_delivery(
    sent: date,
    channel: Channel = "post",
    *,
    email_days: int = 1,
    closed: Callable[[date], bool] | None = None,
) -> date:
    """The day a letter is presumed to reach the debtor.

    Post (HR 2016:2704): the second day after sending, where a Sunday, a Monday or a legal holiday counts neither
    as an intermediate day nor as the delivery day (Thu -> Sat, Fri -> Tue, Sat -> Wed). `closed` replaces that
    rule for the post (e.g. a stricter holiday list). E-mail: `sent + email_days` calendar days. Receipt of an
    e-mailed 14-day letter is not settled law (§2.2); the one-day default is a project choice.
    """
    if channel == "post":
        is_closed = closed or _post_closed
        day, counted = sent, 0
        while counted < 2:
            day += ONE_DAY
            if not is_closed(day):
                counted += 1
        return day
    if channel == "email":
        if email_days < 0:
            raise ValueError(f"email_days must not be negative, got {email_days}")
        return sent + timedelta(days=email_days)
    raise ValueError(f"unknown channel {channel!r}")


def letter_term(sent: date, channel: Channel = "post", *, email_days: int = 1) -> LetterTerm:
    """The dates of a 14-day letter (art. 6:96 lid 6 BW): the term starts the day after delivery.

    last_day = delivered + 14, moved to the next day that is no Saturday, Sunday or legal holiday (whether the
    Algemene termijnenwet applies is unverified; extending only lengthens the term). Costs are due from the day
    after the last day.
    """
    delivered = presumed_delivery(sent, channel, email_days=email_days)
    last_day = _first_open_day(delivered + timedelta(days=14))
    return LetterTerm(
        sent=sent, delivered=delivered, last_day=last_day, costs_due_from=last_day + ONE_DAY, channel=channel
    )


def after_grace(last_day: date, business_days: int) -> date:
    """The first day after `business_days` business days that follow a term's `last_day`: a bank transfer made
    on the last day is credited a business day or two later (art. 6:114 lid 2 BW), so nothing that assumes
    non-payment (costs, a final notice, a handover) comes before. With no grace, the day after the term."""
    day, counted = last_day, 0
    while counted < business_days:
        day += ONE_DAY
        if not _term_closed(day):
            counted += 1
    return day + ONE_DAY


def posting_day(handed_over: date, business_days: int) -> date:
    """The day a letter handed to the post service today goes in the post, by the days the service promises
    (business days: no Saturday, Sunday or legal holiday). A posted letter's term is stated from this day."""
    day = handed_over
    for _ in range(business_days):
        day = _first_open_day(day + ONE_DAY)
    return day


def payment_deadline(sent: date, term_days: int) -> date:
    """The last day to pay that a reminder states: `term_days` after it went out, moved past a weekend or
    public holiday (a deadline on a Sunday reads as careless, and the debtor's bank does not book that day)."""
    return _first_open_day(sent + timedelta(days=term_days))


def _first_open_day(day: date) -> date:
    """`day`, or the first day after it on which a term can end."""
    while _term_closed(day):
        day += ONE_DAY
    return day


# --- statutory interest (art. 6:119, 6:119a, 6:120 BW) ----------------------------------------------------


class RateKind(StrEnum):
    STATUTORY = "statutory"  # wettelijke rente, art. 6:119 BW (consumers)
    COMMERCIAL = "commercial"  # wettelijke handelsrente, art. 6:119a BW (businesses)


def rate_kind(debtor: DebtorKind) -> RateKind:
    return RateKind.COMMERCIAL if debtor is DebtorKind.BUSINESS else RateKind.STATUTORY


@dataclass(frozen=True)
class RatePeriod:
    valid_from: date
    kind: RateKind
    percent: Decimal  # yearly percentage, e.g. Decimal("10.15")
    source: str  # the source URL(s), separated by single spaces
    verified: bool
    note: str = ""

    @property
    def source_urls(self) -> tuple[str, ...]:
        return tuple(self.source.split())


class MissingRate(Exception):
    """No verified rate for `day` (the first such day of the period) and `kind`: the engine refuses to guess."""

    def __init__(self, day: date, kind: RateKind, *, unverified: bool = False) -> None:
        self.day = day
        self.kind = kind
        self.unverified = unverified
        what = "only an unverified" if unverified else "no"
        super().__init__(
            f"{what} {kind.value} interest rate for {day.isoformat()}; add a verified row in a rates_file "
            "([connector] rates_file, the format of the packaged rates.toml)"
        )


_RATE_KINDS: dict[str, RateKind] = {kind.value: kind for kind in RateKind}


def _half_year_end(day: date) -> date:
    """The next 1 January or 1 July after `day`."""
    return date(day.year, 7, 1) if day.month < 7 else date(day.year + 1, 1, 1)


def _parse_rate(row: Mapping[str, Any], where: str) -> RatePeriod:
    valid_from = row.get("valid_from")
    if type(valid_from) is not date:  # a TOML datetime is a date subclass: refuse it too
        raise ValueError(f"{where}: valid_from must be a TOML date (YYYY-MM-DD), got {valid_from!r}")
    raw_kind = row.get("kind")
    if not isinstance(raw_kind, str) or raw_kind not in _RATE_KINDS:
        raise ValueError(f"{where}: kind must be 'statutory' or 'commercial', got {raw_kind!r}")
    kind = _RATE_KINDS[raw_kind]
    raw_percent = row.get("percent")
    if not isinstance(raw_percent, str):
        raise ValueError(f'{where}: percent must be a quoted decimal string such as "10.15", got {raw_percent!r}')
    try:
        percent = Decimal(raw_percent)
    except InvalidOperation:
        raise ValueError(f"{where}: percent {raw_percent!r} is not a decimal number") from None
    if not percent.is_finite() or percent < 0:
        raise ValueError(f"{where}: percent must be a finite number >= 0, got {raw_percent!r}")
    verified = row.get("verified")
    if not isinstance(verified, bool):
        raise ValueError(f"{where}: verified must be true or false, got {verified!r}")
    sources = row.get("sources")
    if (
        not isinstance(sources, list)
        or not sources
        or not all(isinstance(url, str) and url.strip() and not any(c.isspace() for c in url) for url in sources)
    ):
        raise ValueError(f"{where}: sources must be a non-empty list of URLs")
    note = row.get("note", "")
    if not isinstance(note, str):
        raise ValueError(f"{where}: note must be a string")
    return RatePeriod(
        valid_from=valid_from, kind=kind, percent=percent, source=" ".join(sources), verified=verified, note=note
    )


def _check_unique(rates: Sequence[RatePeriod]) -> None:
    seen: set[tuple[date, RateKind]] = set()
    for rate in rates:
        key = (rate.valid_from, rate.kind)
        if key in seen:
            raise ValueError(f"two {rate.kind.value} rates from {rate.valid_from.isoformat()}")
        seen.add(key)


def load_rates(path: Path | None = None) -> tuple[RatePeriod, ...]:
    """Read a rate table (format documented at the top of the packaged rates.toml), sorted by kind and date."""
    if path is None:
        return _packaged_rates()
    return _parse_rates(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def merge_rates(base: Sequence[RatePeriod], extra: Sequence[RatePeriod]) -> tuple[RatePeriod, ...]:
    """`base` with `extra`'s rows added; a row of `extra` for the same half-year and kind replaces base's (an
    operator confirming an unverified row, or correcting one)."""
    replaced = {(row.valid_from, row.kind) for row in extra}
    rows = [row for row in base if (row.valid_from, row.kind) not in replaced] + list(extra)
    return tuple(sorted(rows, key=lambda r: (r.kind.value, r.valid_from)))


def _packaged_rates() -> tuple[RatePeriod, ...]:
    text = resources.files("connector.workflow").joinpath("rates.toml").read_text(encoding="utf-8")
    return _parse_rates(text, "rates.toml")


def _parse_rates(text: str, name: str) -> tuple[RatePeriod, ...]:
    data = tomllib.loads(text)
    rows = data.get("rate", [])
    if not isinstance(rows, list):
        raise ValueError(f"{name}: expected [[rate]] tables")
    rates = tuple(_parse_rate(row, f"{name} [[rate]] #{i + 1}") for i, row in enumerate(rows))
    _check_unique(rates)
    return tuple(sorted(rates, key=lambda r: (r.kind.value, r.valid_from)))


def _coverage(rates: Sequence[RatePeriod], kind: RateKind) -> tuple[tuple[date, date, RatePeriod], ...]:
    """[from, until) per row of `kind`: up to the next row or the end of its half-year, whichever is first.
    Cached per table: the planner asks for it once per invoice."""
    return _coverage_of(tuple(rates), kind)


@lru_cache(maxsize=16)
def _coverage_of(rates: tuple[RatePeriod, ...], kind: RateKind) -> tuple[tuple[date, date, RatePeriod], ...]:
    rows = sorted((r for r in rates if r.kind is kind), key=lambda r: r.valid_from)
    _check_unique(rows)
    spans = []
    for i, row in enumerate(rows):
        until = _half_year_end(row.valid_from)
        if i + 1 < len(rows):
            until = min(until, rows[i + 1].valid_from)
        spans.append((row.valid_from, until, row))
    return tuple(spans)


def _covering(spans: Sequence[tuple[date, date, RatePeriod]], day: date) -> tuple[date, RatePeriod] | None:
    for start, until, row in spans:
        if start <= day < until:
            return until, row
    return None


def rate_for(
    day: date, kind: RateKind, *, rates: Sequence[RatePeriod] | None = None, allow_unverified: bool = False
) -> RatePeriod:
    """The rate row in force on `day`, or MissingRate (e.g. to state the rate in a letter)."""
    found = _covering(_coverage(load_rates() if rates is None else rates, kind), day)
    if found is None:
        raise MissingRate(day, kind)
    if not found[1].verified and not allow_unverified:
        raise MissingRate(day, kind, unverified=True)
    return found[1]


def _anniversary(start: date, years: int) -> date:
    """`start` moved `years` years on; a 29 February start has its anniversary on 1 March in common years."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


def _days_in_year(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def prescription_date(due: date, last_written: date | None, kind: DebtorKind) -> date:
    """When a claim prescribes: five years after it fell due (art. 3:307 BW), two for a consumer (art. 7:28 BW
    for a consumer sale; applied to every consumer claim, the shorter being the careful choice), counted anew
    from a written reminder (art. 3:317 and 3:319 BW)."""
    return _anniversary(max(due, last_written or due), 2 if kind is DebtorKind.CONSUMER else 5)


def interest_start(due_date: date) -> date:
    """The first day interest runs: the day after the due date (verzuim by art. 6:83 sub a BW when the due date is
    a fatale termijn; handelsrente from the day after the agreed last payment day, art. 6:119a lid 1 BW)."""
    return due_date + ONE_DAY


def statutory_interest(
    principal: Decimal,
    start: date,
    end: date,
    kind: RateKind,
    *,
    rates: Sequence[RatePeriod] | None = None,
    allow_unverified: bool = False,
) -> Decimal:
    """Statutory (commercial) interest on `principal` for every day d with start <= d < end (`end` exclusive).

    So `statutory_interest(p, d, d) == 0` and the number of days is `(end - start).days`, the usual from-date /
    to-date count; `start` is normally `interest_start(due_date)`. Day count actual/actual: a day's interest is
    base * percent / 100 / the number of days in its calendar year (366 in a leap year), so a full year at 7% is
    7% of the base in every year. The period is split at each rate change, each 1 January and each anniversary of
    `start`, where that year's interest is added to the base (yearly compounding, art. 6:119 lid 2 / 6:119a lid 3
    BW). Full precision inside, rounded half-up to cents at the end.

    Raises MissingRate for the first day with no rate, or only an unverified one unless `allow_unverified`; the last
    known rate is never carried forward. A principal of zero or less gives 0.00.
    """
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if principal <= 0 or end == start:
        return ZERO
    spans = _coverage(load_rates() if rates is None else rates, kind)
    with localcontext() as ctx:
        ctx.prec = 60
        base = principal
        total = Decimal(0)
        year_start, years = start, 0
        while year_start < end:
            years += 1
            year_end = min(_anniversary(start, years), end)
            year_interest = Decimal(0)
            day = year_start
            while day < year_end:
                found = _covering(spans, day)
                if found is None:
                    raise MissingRate(day, kind)
                until, row = found
                if not row.verified and not allow_unverified:
                    raise MissingRate(day, kind, unverified=True)
                segment_end = min(until, year_end, date(day.year + 1, 1, 1))
                year_interest += base * row.percent / 100 * (segment_end - day).days / _days_in_year(day.year)
                day = segment_end
            total += year_interest
            base += year_interest
            year_start = year_end
    return _cents(total)


# --- allocation of payments (art. 6:44 BW) ----------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    to_costs: Decimal
    to_interest: Decimal
    to_principal: Decimal
    surplus: Decimal  # paid beyond everything owed
    costs_left: Decimal
    interest_left: Decimal
    principal_left: Decimal


def allocate_payment(payment: Decimal, *, costs: Decimal, interest: Decimal, principal: Decimal) -> Allocation:
    """Apply a payment to costs first, then interest, then principal (art. 6:44 BW; collection costs are "kosten",
    HR 10 July 2015, ECLI:NL:HR:2015:1868); what remains is surplus."""
    for name, value in (("payment", payment), ("costs", costs), ("interest", interest), ("principal", principal)):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    rest = payment
    to_costs = min(rest, costs)
    rest -= to_costs
    to_interest = min(rest, interest)
    rest -= to_interest
    to_principal = min(rest, principal)
    rest -= to_principal
    return Allocation(
        to_costs=to_costs,
        to_interest=to_interest,
        to_principal=to_principal,
        surplus=rest,
        costs_left=costs - to_costs,
        interest_left=interest - to_interest,
        principal_left=principal - to_principal,
    )
