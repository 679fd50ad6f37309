"""Clocks for tests that need time to pass while the code under test works."""

from __future__ import annotations

from datetime import datetime, timedelta

from connector.clock import ManualClock


class TickingClock(ManualClock):
    """A manual clock that moves `step` forward every time it is read: work that asks the time often (a
    backlog behind a rate limit, say) takes business time, deterministically."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        super().__init__(start)
        self.step = step

    def now(self) -> datetime:
        return self.advance(self.step)
