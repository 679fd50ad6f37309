"""Dutch legal arithmetic: BIK staffel, 14-day letter dates (HR 2016:2704), statutory interest, art. 6:44 allocation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain import Contact
from connector.workflow.legal import (
    BUSINESS_MINIMUM_COSTS,
    LETTER_TERM_WORDING,
    DebtorKind,
    MissingRate,
    RateKind,
    RatePeriod,
    allocate_payment,
    collection_costs,
    debtor_kind,
    debtor_kind_and_why,
    interest_start,
    letter_term,
    load_rates,
    merge_rates,
    payment_deadline,
    presumed_delivery,
    rate_for,
    rate_kind,
    statutory_interest,
)

D = Decimal
CONSUMER, BUSINESS = DebtorKind.CONSUMER, DebtorKind.BUSINESS
STATUTORY, COMMERCIAL = RateKind.STATUTORY, RateKind.COMMERCIAL


# --- debtor kind ------------------------------------------------------------------------------------------


def contact(**fields: Any) -> Contact:
    return Contact(ledger_id="c1", name="Debtor", **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, CONSUMER),
        ({"person_name": "Jan Jansen"}, CONSUMER),
        ({"company_name": "Jansen B.V."}, BUSINESS),
        ({"kvk_number": "12345678"}, BUSINESS),
        ({"vat_number": "NL123456789B01"}, BUSINESS),
        ({"company_name": "   ", "kvk_number": ""}, CONSUMER),  # blanks are no evidence of a business
        # A company name alone is no evidence: a consumer's contact often carries one.
        ({"company_name": "Fam. Jansen"}, CONSUMER),
        ({"company_name": "Jansen Timmerwerken"}, CONSUMER),
        ({"company_name": "Stichting De Linde"}, BUSINESS),
        ({"kind_in_ledger": "business"}, BUSINESS),
        ({"kind_in_ledger": "consumer", "kvk_number": "12345678", "company_name": "Jansen B.V."}, CONSUMER),
    ],
)
def test_debtor_kind_is_derived_from_the_contact(fields: dict[str, Any], expected: DebtorKind) -> None:
    assert debtor_kind(contact(**fields)) is expected


def test_the_rule_that_decided_is_said_in_words() -> None:
    assert debtor_kind_and_why(contact(kvk_number="12345678")) == (BUSINESS, "business: KvK number 12345678")
    assert debtor_kind_and_why(contact(company_name="Jansen B.V.")) == (
        BUSINESS,
        "business: legal form B.V. in the name 'Jansen B.V.'",
    )
    kind, why = debtor_kind_and_why(contact(company_name="Fam. Jansen"))
    assert kind is CONSUMER and why.startswith("consumer: no KvK or VAT number") and "unknown counts as consumer" in why
    assert debtor_kind_and_why(contact(kind_in_ledger="consumer"))[1] == (
        "consumer: marked as a private person in the ledger"
    )
    assert "set by a person" in debtor_kind_and_why(contact(kvk_number="1"), CONSUMER)[1]


def test_unknown_contact_is_a_consumer_and_the_override_wins() -> None:
    assert debtor_kind(None) is CONSUMER
    assert debtor_kind(None, BUSINESS) is BUSINESS
    assert debtor_kind(contact(company_name="Jansen B.V."), CONSUMER) is CONSUMER
    assert debtor_kind(contact(), BUSINESS) is BUSINESS


def test_rate_kind_follows_the_debtor() -> None:
    assert rate_kind(CONSUMER) is STATUTORY
    assert rate_kind(BUSINESS) is COMMERCIAL


# --- collection costs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "fee"),
    [
        ("100", "40.00"),  # 15% = 15 -> minimum
        ("266.67", "40.00"),  # 15% = 40.0005
        ("1000", "150.00"),
        ("2500", "375.00"),
        ("5000", "625.00"),  # 375 + 10% of 2,500
        ("10000", "875.00"),  # 625 + 5% of 5,000
        ("200000", "2775.00"),  # 875 + 1% of 190,000
        ("1000000", "6775.00"),  # 2,775 + 0.5% of 800,000
        ("2000000", "6775.00"),  # capped
        ("3333.33", "458.33"),  # 375 + 10% of 833.33 = 458.333
        ("0", "0.00"),
        ("-50", "0.00"),
    ],
)
def test_collection_costs_follow_the_bik_staffel(principal: str, fee: str) -> None:
    result = collection_costs(D(principal))
    assert result == D(fee)
    assert str(result) == fee  # always exactly two decimals


def test_collection_costs_round_half_up_to_cents() -> None:
    assert collection_costs(D("300.03")) == D("45.00")  # 45.0045
    assert collection_costs(D("300.05")) == D("45.01")  # 45.0075


def test_collection_costs_with_vat_mark_up_include_the_minimum() -> None:
    assert collection_costs(D("1000"), vat_rate=D("21")) == D("181.50")  # 150 * 1.21
    assert collection_costs(D("100"), vat_rate=D("21")) == D("48.40")  # 40 * 1.21
    assert collection_costs(D("0"), vat_rate=D("21")) == D("0.00")
    with pytest.raises(ValueError, match="vat_rate"):
        collection_costs(D("100"), vat_rate=D("-1"))


def test_business_minimum_is_forty_euros() -> None:
    assert D("40.00") == BUSINESS_MINIMUM_COSTS


amounts = st.decimals(min_value=D("0.01"), max_value=D("3000000"), places=2, allow_nan=False, allow_infinity=False)


@given(amounts, amounts)
def test_collection_costs_are_monotone_bounded_and_never_above_fifteen_percent(a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    fee_low, fee_high = collection_costs(low), collection_costs(high)
    assert fee_low <= fee_high
    assert D("40") <= fee_low <= D("6775")
    assert D("40") <= fee_high <= D("6775")
    for principal, fee in ((low, fee_low), (high, fee_high)):
        if principal > D("266.67"):
            # 15% of the principal, allowing only the half-cent of the final rounding
            assert fee <= (principal * D("0.15")).quantize(D("0.01"), rounding=ROUND_HALF_UP)


# --- presumed delivery and the 14-day term ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "delivered"),
    [
        (date(2025, 3, 6), date(2025, 3, 8)),  # Thu -> Fri (1), Sat (2)
        (date(2025, 3, 7), date(2025, 3, 11)),  # Fri -> Sat (1), Sun/Mon skipped, Tue (2)
        (date(2025, 3, 8), date(2025, 3, 12)),  # Sat -> Sun/Mon skipped, Tue (1), Wed (2)
        (date(2025, 3, 9), date(2025, 3, 12)),  # Sun -> Mon skipped, Tue (1), Wed (2)
        (date(2025, 3, 10), date(2025, 3, 12)),  # Mon -> Tue (1), Wed (2)
        # Thu 17 Apr 2025: Good Friday 18 Apr is skipped, Sat 19 (1), Easter Sunday 20 and Easter Monday 21
        # skipped, Tue 22 (2). Without the holiday rule it would have been Sat 19.
        (date(2025, 4, 17), date(2025, 4, 22)),
        # Thu 24 Apr 2025: Fri 25 (1), King's Day on Sat 26 skipped, Sun/Mon skipped, Tue 29 (2).
        (date(2025, 4, 24), date(2025, 4, 29)),
        # Wed 28 May 2025: Ascension Day Thu 29 skipped, Fri 30 (1), Sat 31 (2).
        (date(2025, 5, 28), date(2025, 5, 31)),
        # Mon 4 May 2026: 5 May (Liberation Day, counted every year) skipped, Wed 6 (1), Thu 7 (2).
        (date(2026, 5, 4), date(2026, 5, 7)),
        # Wed 24 Dec 2025: 25 and 26 Dec skipped, Sat 27 (1), Sun/Mon skipped, Tue 30 (2).
        (date(2025, 12, 24), date(2025, 12, 30)),
    ],
)
def test_post_is_presumed_delivered_on_the_second_countable_day(sent: date, delivered: date) -> None:
    assert presumed_delivery(sent) == delivered
    assert presumed_delivery(sent, "post") == delivered


def test_a_custom_closed_rule_replaces_the_default_for_post() -> None:
    only_sundays = lambda day: day.weekday() == 6  # noqa: E731
    assert presumed_delivery(date(2025, 3, 7), closed=only_sundays) == date(2025, 3, 10)  # Fri -> Sat, Mon


def test_email_is_delivered_after_a_configurable_number_of_calendar_days() -> None:
    assert presumed_delivery(date(2025, 3, 7), "email") == date(2025, 3, 8)  # Fri -> Sat
    assert presumed_delivery(date(2025, 3, 7), "email", email_days=0) == date(2025, 3, 7)
    assert presumed_delivery(date(2025, 3, 7), "email", email_days=3) == date(2025, 3, 10)
    with pytest.raises(ValueError, match="email_days"):
        presumed_delivery(date(2025, 3, 7), "email", email_days=-1)
    fax: Any = "fax"
    with pytest.raises(ValueError, match="channel"):
        presumed_delivery(date(2025, 3, 7), fax)


def test_letter_term_example_from_the_reference() -> None:
    # legal-nl.md §2.3: sent Fri 7 March 2025 -> delivered Tue 11 March -> last day Tue 25 March -> costs 26 March.
    term = letter_term(date(2025, 3, 7))
    assert term.sent == date(2025, 3, 7)
    assert term.delivered == date(2025, 3, 11)
    assert term.last_day == date(2025, 3, 25)
    assert term.costs_due_from == date(2025, 3, 26)
    assert term.channel == "post"


@pytest.mark.parametrize(
    ("sent", "delivered", "last_day"),
    [
        # Thu 6 Mar -> delivered Sat 8 Mar; +14 = Sat 22 Mar -> extended to Mon 24 Mar.
        (date(2025, 3, 6), date(2025, 3, 8), date(2025, 3, 24)),
        # Tue 13 May -> delivered Thu 15 May; +14 = Ascension Day Thu 29 May -> Fri 30 May.
        (date(2025, 5, 13), date(2025, 5, 15), date(2025, 5, 30)),
        # Tue 9 Dec -> delivered Thu 11 Dec; +14 = Christmas Thu 25 Dec -> 26 Dec, weekend -> Mon 29 Dec.
        (date(2025, 12, 9), date(2025, 12, 11), date(2025, 12, 29)),
    ],
)
def test_a_last_day_on_a_weekend_or_holiday_is_extended(sent: date, delivered: date, last_day: date) -> None:
    term = letter_term(sent)
    assert term.delivered == delivered
    assert term.last_day == last_day
    assert term.costs_due_from == last_day + timedelta(days=1)


@pytest.mark.parametrize(
    ("sent", "days", "deadline"),
    [
        (date(2026, 11, 25), 7, date(2026, 12, 2)),  # a Wednesday: a Wednesday
        (date(2026, 11, 23), 5, date(2026, 11, 30)),  # Saturday 28 Nov: Monday
        (date(2026, 12, 18), 7, date(2026, 12, 28)),  # Christmas, then the weekend: Monday 28 Dec
        (date(2027, 4, 20), 7, date(2027, 4, 28)),  # Koningsdag (Tuesday 27 Apr): Wednesday
    ],
)
def test_a_reminders_deadline_never_falls_on_a_weekend_or_holiday(sent: date, days: int, deadline: date) -> None:
    assert payment_deadline(sent, days) == deadline


def test_letter_term_by_email() -> None:
    # Fri 7 Mar by e-mail -> delivered Sat 8 Mar; +14 = Sat 22 Mar -> Mon 24 Mar; costs from Tue 25 Mar.
    term = letter_term(date(2025, 3, 7), "email")
    assert (term.delivered, term.last_day, term.costs_due_from) == (
        date(2025, 3, 8),
        date(2025, 3, 24),
        date(2025, 3, 25),
    )
    assert term.channel == "email"
    assert letter_term(date(2025, 3, 7), "email", email_days=0).delivered == date(2025, 3, 7)


def test_letter_term_is_never_shorter_than_fourteen_days_after_delivery() -> None:
    day = date(2025, 1, 1)
    while day < date(2027, 1, 1):
        for channel in ("post", "email"):
            term = letter_term(day, channel)
            assert term.last_day >= term.delivered + timedelta(days=14)
            assert term.last_day.weekday() < 5
            assert term.costs_due_from == term.last_day + timedelta(days=1)
        day += timedelta(days=1)


def test_wording_states_the_term_starts_the_day_after_delivery() -> None:
    assert LETTER_TERM_WORDING["nl"] == "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd"
    assert "fourteen days" in LETTER_TERM_WORDING["en"]
    assert "day after" in LETTER_TERM_WORDING["en"]
    assert "delivered" in LETTER_TERM_WORDING["en"]


# --- interest rates ---------------------------------------------------------------------------------------


def test_packaged_rate_table() -> None:
    rates = load_rates()
    table = {(r.valid_from, r.kind): (r.percent, r.verified) for r in rates}
    assert table[(date(2023, 1, 1), STATUTORY)] == (D("4"), True)
    assert table[(date(2023, 1, 1), COMMERCIAL)] == (D("10.5"), True)
    assert table[(date(2023, 7, 1), STATUTORY)] == (D("6"), True)
    assert table[(date(2023, 7, 1), COMMERCIAL)] == (D("12"), True)
    assert table[(date(2024, 1, 1), STATUTORY)] == (D("7"), True)
    assert table[(date(2024, 1, 1), COMMERCIAL)] == (D("12.5"), True)
    assert table[(date(2024, 7, 1), STATUTORY)] == (D("7"), True)
    assert table[(date(2024, 7, 1), COMMERCIAL)] == (D("12.25"), True)
    assert table[(date(2025, 1, 1), STATUTORY)] == (D("6"), True)
    assert table[(date(2025, 1, 1), COMMERCIAL)] == (D("11.15"), True)
    assert table[(date(2025, 7, 1), STATUTORY)] == (D("6"), True)
    assert table[(date(2025, 7, 1), COMMERCIAL)] == (D("10.15"), True)
    # 2026: what the statutory rules give, unconfirmed: refused until an operator confirms them
    assert table[(date(2026, 1, 1), STATUTORY)] == (D("4"), False)
    assert table[(date(2026, 1, 1), COMMERCIAL)] == (D("10.15"), False)
    assert table[(date(2026, 7, 1), STATUTORY)] == (D("4"), False)
    assert table[(date(2026, 7, 1), COMMERCIAL)] == (D("10.15"), False)
    for rate in rates:
        assert rate.source_urls
        assert all(url.startswith(("https://", "http://")) for url in rate.source_urls)
        assert isinstance(rate.percent, Decimal)


def write_table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rates.toml"
    path.write_text(text, encoding="utf-8")
    return path


ROW = """
[[rate]]
valid_from = {valid_from}
kind = "{kind}"
percent = {percent}
verified = true
sources = ["https://example.org/rate"]
"""
SOURCES = '["https://example.org/rate"]'


def test_load_rates_from_an_operator_file(tmp_path: Path) -> None:
    path = write_table(
        tmp_path,
        ROW.format(valid_from="2026-07-01", kind="commercial", percent='"10.15"')
        + ROW.format(valid_from="2026-01-01", kind="commercial", percent='"10.15"'),
    )
    rates = load_rates(path)
    assert [r.valid_from for r in rates] == [date(2026, 1, 1), date(2026, 7, 1)]  # sorted
    assert rates[0] == RatePeriod(date(2026, 1, 1), COMMERCIAL, D("10.15"), "https://example.org/rate", True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ROW.format(valid_from="2026-01-01", kind="commercial", percent="10.15"), "quoted decimal"),
        (ROW.format(valid_from="2026-01-01", kind="handels", percent='"10"'), "kind"),
        (ROW.format(valid_from='"2026-01-01"', kind="commercial", percent='"10"'), "valid_from"),
        (ROW.format(valid_from="2026-01-01T00:00:00", kind="commercial", percent='"10"'), "valid_from"),
        (ROW.format(valid_from="2026-01-01", kind="commercial", percent='"-1"'), "percent"),
        (ROW.format(valid_from="2026-01-01", kind="commercial", percent='"ten"'), "percent"),
        (ROW.format(valid_from="2026-01-01", kind="commercial", percent='"10"').replace("true", '"yes"'), "verified"),
        (ROW.format(valid_from="2026-01-01", kind="commercial", percent='"10"').replace(SOURCES, "[]"), "sources"),
        (ROW.format(valid_from="2026-01-01", kind="commercial", percent='"10"').replace(SOURCES, '["a b"]'), "sources"),
        (ROW.format(valid_from="2026-01-01", kind="commercial", percent='"10"') * 2, "two commercial rates"),
    ],
)
def test_load_rates_rejects_malformed_rows(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_rates(write_table(tmp_path, text))


def constant_rates(percent: str, first_year: int, last_year: int, kind: RateKind = STATUTORY) -> list[RatePeriod]:
    return [
        RatePeriod(date(year, month, 1), kind, D(percent), "https://example.org", True)
        for year in range(first_year, last_year + 1)
        for month in (1, 7)
    ]


def test_interest_start_is_the_day_after_the_due_date() -> None:
    assert interest_start(date(2025, 3, 31)) == date(2025, 4, 1)
    assert interest_start(date(2024, 12, 31)) == date(2025, 1, 1)


def test_interest_within_one_rate() -> None:
    # 1,000 at 4% from 1 Feb 2023 up to (not including) 1 Mar 2023: 28 days.
    # 1000 * 0.04 * 28 / 365 = 1120 / 365 = 3.0685 -> 3.07
    assert statutory_interest(D("1000"), date(2023, 2, 1), date(2023, 3, 1), STATUTORY) == D("3.07")
    # commercial 10.5%: 1000 * 0.105 * 28 / 365 = 2940 / 365 = 8.0548 -> 8.05
    assert statutory_interest(D("1000"), date(2023, 2, 1), date(2023, 3, 1), COMMERCIAL) == D("8.05")


def test_interest_across_a_rate_change() -> None:
    # 1,000 statutory from 1 May 2023 up to 1 Sep 2023:
    #   1 May - 30 Jun = 61 days at 4%: 1000 * 0.04 * 61 / 365 = 2440 / 365 = 6.68493
    #   1 Jul - 31 Aug = 62 days at 6%: 1000 * 0.06 * 62 / 365 = 3720 / 365 = 10.19178
    #   total 6160 / 365 = 16.87671 -> 16.88   (all 123 days at 4% would give 13.48, all at 6% 20.22)
    assert statutory_interest(D("1000"), date(2023, 5, 1), date(2023, 9, 1), STATUTORY) == D("16.88")


def test_interest_compounds_at_the_anniversary_across_a_year_boundary() -> None:
    # 1,000 commercial from 15 Mar 2023 up to 1 Jun 2024, actual/actual (2024 has 366 days).
    # Year 1, 15 Mar 2023 - 14 Mar 2024, base 1,000:
    #   15 Mar - 30 Jun 2023 = 108 days at 10.5%: 1000 * 0.105 * 108 / 365 = 31.068493
    #   1 Jul - 31 Dec 2023  = 184 days at 12%:   1000 * 0.12  * 184 / 365 = 60.493151
    #   1 Jan - 14 Mar 2024  =  74 days at 12.5%: 1000 * 0.125 *  74 / 366 = 25.273224
    #   year 1 = 116.834868
    # Year 2, from 15 Mar 2024, base 1,116.834868 (compounded):
    #   15 Mar - 31 May 2024 = 78 days at 12.5%: 1116.834868 * 0.125 * 78 / 366 = 29.751749
    # total 146.586616 -> 146.59 (simple interest would give 116.83 + 26.64 = 143.47)
    assert statutory_interest(D("1000"), date(2023, 3, 15), date(2024, 6, 1), COMMERCIAL) == D("146.59")


def test_interest_compounds_yearly_with_a_constant_rate() -> None:
    rates = constant_rates("10", 2020, 2030)
    # two 365-day years at 10%: 100 + 10% of 1,100 = 210
    assert statutory_interest(D("1000"), date(2021, 1, 1), date(2023, 1, 1), STATUTORY, rates=rates) == D("210.00")
    # a leap year counts 366 days: a full 2024 at 10% is 10%, not 1000 * 0.1 * 366 / 365 = 100.27
    assert statutory_interest(D("1000"), date(2024, 1, 1), date(2025, 1, 1), STATUTORY, rates=rates) == D("100.00")
    # a 29 February start has its first anniversary on 1 March 2025: 307 days of 2024 (/366) and 59 of 2025
    # (/365) = 100.044165, then base 1,100.044165 for a full year: + 110.004417 = 210.048581 -> 210.05
    assert statutory_interest(D("1000"), date(2024, 2, 29), date(2026, 3, 1), STATUTORY, rates=rates) == D("210.05")


def test_a_full_leap_year_at_seven_percent_is_seven_percent() -> None:
    """Interest on 366-day years: a full 2024 at 7% on 10,000 is 700.00; actual/365 gave 701.92."""
    rates = constant_rates("7", 2023, 2026)
    assert statutory_interest(D("10000"), date(2024, 1, 1), date(2025, 1, 1), STATUTORY, rates=rates) == D("700.00")
    # a year across the turn of a leap year: each day at its own year's length
    # 1 Jul - 31 Dec 2023: 184/365; 1 Jan - 30 Jun 2024: 182/366 -> 10000 * 0.07 * (184/365 + 182/366) = 700.96
    assert statutory_interest(D("10000"), date(2023, 7, 1), date(2024, 7, 1), STATUTORY, rates=rates) == D("700.96")


def test_zero_length_and_zero_principal_give_no_interest() -> None:
    assert statutory_interest(D("1000"), date(2023, 5, 1), date(2023, 5, 1), STATUTORY) == D("0.00")
    assert statutory_interest(D("0"), date(2023, 5, 1), date(2023, 9, 1), STATUTORY) == D("0.00")
    # zero length needs no rate at all, even far past the table
    assert statutory_interest(D("1000"), date(2099, 1, 1), date(2099, 1, 1), STATUTORY) == D("0.00")
    with pytest.raises(ValueError, match="before start"):
        statutory_interest(D("1000"), date(2023, 5, 2), date(2023, 5, 1), STATUTORY)


def test_one_day_of_interest() -> None:
    # 36,500 at 10.5% for one day = 36500 * 0.105 / 365 = 10.50
    assert statutory_interest(D("36500"), date(2023, 2, 1), date(2023, 2, 2), COMMERCIAL) == D("10.50")


def test_missing_rate_past_the_table() -> None:
    with pytest.raises(MissingRate) as raised:
        statutory_interest(D("1000"), date(2026, 12, 1), date(2027, 2, 1), COMMERCIAL, allow_unverified=True)
    assert raised.value.day == date(2027, 1, 1)
    assert raised.value.kind is COMMERCIAL
    assert not raised.value.unverified
    assert "add a verified row in a rates_file ([connector] rates_file" in str(raised.value)


def test_missing_rate_before_the_table() -> None:
    with pytest.raises(MissingRate) as raised:
        statutory_interest(D("1000"), date(2022, 12, 1), date(2023, 2, 1), STATUTORY)
    assert raised.value.day == date(2022, 12, 1)


def test_an_unverified_rate_is_refused_unless_allowed() -> None:
    with pytest.raises(MissingRate) as raised:
        statutory_interest(D("1000"), date(2025, 12, 1), date(2026, 2, 1), STATUTORY)
    assert raised.value.day == date(2026, 1, 1)
    assert raised.value.unverified
    # allowed: December (31 days) at 6%, January (31 days) at 4%: 1000 * (0.06 * 31 + 0.04 * 31) / 365 = 8.49
    amount = statutory_interest(D("1000"), date(2025, 12, 1), date(2026, 2, 1), STATUTORY, allow_unverified=True)
    assert amount == D("8.49")


def test_an_operators_rates_file_confirms_a_row_or_adds_a_half_year(tmp_path: Path) -> None:
    confirmed = ROW.format(valid_from="2026-01-01", kind="statutory", percent='"4"')
    added = ROW.format(valid_from="2027-01-01", kind="statutory", percent='"5"')
    rates = merge_rates(load_rates(), load_rates(write_table(tmp_path, confirmed + added)))
    table = {(r.valid_from, r.kind): (r.percent, r.verified) for r in rates}
    assert table[(date(2026, 1, 1), STATUTORY)] == (D("4"), True)  # replaces the packaged unverified row
    assert table[(date(2027, 1, 1), STATUTORY)] == (D("5"), True)
    assert len(rates) == len(load_rates()) + 1
    assert statutory_interest(D("1000"), date(2026, 1, 1), date(2026, 2, 1), STATUTORY, rates=rates) == D("3.40")


def test_a_half_year_without_a_row_is_not_filled_from_the_previous_rate() -> None:
    rates = [
        RatePeriod(date(2023, 1, 1), STATUTORY, D("4"), "https://example.org", True),
        RatePeriod(date(2024, 1, 1), STATUTORY, D("7"), "https://example.org", True),
    ]
    assert statutory_interest(D("1000"), date(2023, 6, 1), date(2023, 7, 1), STATUTORY, rates=rates) == D("3.29")
    with pytest.raises(MissingRate) as raised:
        statutory_interest(D("1000"), date(2023, 6, 1), date(2024, 2, 1), STATUTORY, rates=rates)
    assert raised.value.day == date(2023, 7, 1)
    # rates of the other kind do not count
    with pytest.raises(MissingRate):
        statutory_interest(D("1000"), date(2023, 2, 1), date(2023, 3, 1), COMMERCIAL, rates=rates)


def test_rate_for_a_day() -> None:
    assert rate_for(date(2024, 8, 15), COMMERCIAL).percent == D("12.25")
    assert rate_for(date(2025, 8, 15), STATUTORY).percent == D("6")
    with pytest.raises(MissingRate):
        rate_for(date(2026, 8, 15), STATUTORY)
    assert rate_for(date(2026, 8, 15), STATUTORY, allow_unverified=True).percent == D("4")
    with pytest.raises(MissingRate):
        rate_for(date(2027, 1, 1), COMMERCIAL, allow_unverified=True)


# --- allocation (art. 6:44 BW) ----------------------------------------------------------------------------


def test_payment_goes_to_costs_then_interest_then_principal() -> None:
    a = allocate_payment(D("500.00"), costs=D("40.00"), interest=D("10.00"), principal=D("1000.00"))
    assert (a.to_costs, a.to_interest, a.to_principal, a.surplus) == (D("40.00"), D("10.00"), D("450.00"), D("0.00"))
    assert (a.costs_left, a.interest_left, a.principal_left) == (D("0.00"), D("0.00"), D("550.00"))


@pytest.mark.parametrize(
    ("payment", "expected"),
    [
        # payment -> (to_costs, to_interest, to_principal, surplus, costs_left, interest_left, principal_left)
        ("0", ("0", "0", "0", "0", "40", "10", "1000")),
        ("30", ("30", "0", "0", "0", "10", "10", "1000")),
        ("45", ("40", "5", "0", "0", "0", "5", "1000")),
        ("1000", ("40", "10", "950", "0", "0", "0", "50")),  # "paid the invoice amount": 50 principal still owed
        ("1050", ("40", "10", "1000", "0", "0", "0", "0")),
        ("1100", ("40", "10", "1000", "50", "0", "0", "0")),
    ],
)
def test_partial_and_excess_payments(payment: str, expected: tuple[str, ...]) -> None:
    a = allocate_payment(D(payment), costs=D("40"), interest=D("10"), principal=D("1000"))
    got = (a.to_costs, a.to_interest, a.to_principal, a.surplus, a.costs_left, a.interest_left, a.principal_left)
    assert got == tuple(D(x) for x in expected)


def test_allocation_without_costs_or_interest_goes_to_principal() -> None:
    a = allocate_payment(D("100"), costs=D("0"), interest=D("0"), principal=D("250"))
    assert (a.to_principal, a.principal_left, a.surplus) == (D("100"), D("150"), D("0"))


def test_allocation_rejects_negative_amounts() -> None:
    with pytest.raises(ValueError, match="payment"):
        allocate_payment(D("-1"), costs=D("0"), interest=D("0"), principal=D("10"))
    with pytest.raises(ValueError, match="principal"):
        allocate_payment(D("1"), costs=D("0"), interest=D("0"), principal=D("-10"))


money = st.decimals(min_value=D("0"), max_value=D("100000"), places=2, allow_nan=False, allow_infinity=False)


@given(money, money, money, money)
def test_allocation_conserves_every_cent(
    payment: Decimal, costs: Decimal, interest: Decimal, principal: Decimal
) -> None:
    a = allocate_payment(payment, costs=costs, interest=interest, principal=principal)
    assert a.to_costs + a.to_interest + a.to_principal + a.surplus == payment
    assert a.to_costs + a.costs_left == costs
    assert a.to_interest + a.interest_left == interest
    assert a.to_principal + a.principal_left == principal
    assert min(a.to_costs, a.to_interest, a.to_principal, a.surplus) >= 0
    # a later bucket only gets money once the earlier ones are cleared
    assert a.to_interest == 0 or a.costs_left == 0
    assert a.to_principal == 0 or a.interest_left == 0
    assert a.surplus == 0 or a.principal_left == 0
