"""Time comes from an injected clock: UTC instants everywhere, Europe/Amsterdam only for business dates."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests, the demo and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)


def pause(seconds: float) -> None:
    """Wait `seconds` of real time: what `time.sleep` does, on a timed wait instead of `clock_nanosleep`.

    The difference matters under libfaketime with a real monotonic clock (how the suite is run with the date
    moved years ahead): its `clock_nanosleep` shifts the monotonic deadline by the fake offset, so every
    `time.sleep` fails with EINVAL, while timed waits on locks and events keep working.
    """
    if seconds < 0:
        raise ValueError("pause length must not be negative")
    threading.Event().wait(seconds)


def business_date(clock: Clock, tz: ZoneInfo = AMSTERDAM) -> date:
    """The calendar date in the business timezone (what 'today' means for due dates)."""
    return clock.now().astimezone(tz).date()
