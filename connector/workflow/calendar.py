"""Business dates in Europe/Amsterdam: working days, Dutch public holidays and the send window."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from connector.clock import AMSTERDAM


@lru_cache(maxsize=64)
def _dutch_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NL", years=year))


@lru_cache(maxsize=64)
def legal_holidays(year: int) -> frozenset[date]:
    """Days that do not count for the presumed delivery of post (HR 2016:2704).

    Which days count as an "officiële feestdag" there is not spelled out; this list errs on the side of the
    debtor, since a day too many only lengthens a term while a day too few voids the letter: the Dutch
    public holidays (Good Friday included) plus 5 May every year, as the Algemene termijnenwet lists it.
    """
    return _dutch_holidays(year) | {date(year, 5, 5)}


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo = AMSTERDAM
    window_start: time = time(9, 0)
    window_end: time = time(17, 0)
    extra_closed_days: frozenset[date] = field(default_factory=frozenset)  # company holidays, from config
    # When messages may go out: Monday to Friday, not on public holidays, unless configured otherwise.
    send_weekdays: frozenset[int] = frozenset(range(5))
    send_on_public_holidays: bool = False

    def is_public_holiday(self, day: date) -> bool:
        return day in _dutch_holidays(day.year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_public_holiday(day) and day not in self.extra_closed_days

    def is_send_day(self, day: date) -> bool:
        return (
            day.weekday() in self.send_weekdays
            and (self.send_on_public_holidays or not self.is_public_holiday(day))
            and day not in self.extra_closed_days
        )

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz)

    def today(self, instant: datetime) -> date:
        return self.local(instant).date()

    def in_send_window(self, instant: datetime) -> bool:
        local = self.local(instant)
        return self.is_send_day(local.date()) and self.window_start <= local.time() < self.window_end

    def next_send_moment(self, instant: datetime) -> datetime:
        """`instant` if it lies in the send window, else the next opening of the window (in UTC)."""
        if self.in_send_window(instant):
            return instant.astimezone(UTC)
        local = self.local(instant)
        day = local.date()
        if self.is_send_day(day) and local.time() < self.window_start:
            return self._opening(day)
        day += timedelta(days=1)
        while not self.is_send_day(day):
            day += timedelta(days=1)
        return self._opening(day)

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, self.window_start, tzinfo=self.tz).astimezone(UTC)

    def working_days(self, start: date, end: date) -> Iterable[date]:
        day = start
        while day <= end:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)
