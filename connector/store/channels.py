"""Channel health: whether an administration's e-mail, call tasks, ledger reminders and handover go through.

The dispatcher records every try that reached a channel: a success resets the count, a failure adds one. From
`channel_failing_after` failures in a row the channel is failing; /readyz, /status and /metrics read it from
here, so they tell the truth after a restart and whichever replica did the sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from connector.store.models import ChannelHealth
from connector.store.repository import Store

CHANNEL_NAMES = {
    "email": "e-mail",
    "task": "call tasks",
    "ledger_reminder": "the ledger's own reminders",
    "handover": "the handover",
}


@dataclass(frozen=True)
class ChannelState:
    channel: str
    failures: int = 0  # in a row
    failing_since: datetime | None = None
    last_error: str | None = None
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None

    def failing(self, after: int) -> bool:
        return self.failures >= after

    @property
    def label(self) -> str:
        return CHANNEL_NAMES.get(self.channel, self.channel)

    def reason(self) -> str:
        """For /readyz and the log: what fails, since when, and the latest error."""
        since = self.failing_since.isoformat() if self.failing_since else "?"
        return f"{self.label} failing since {since} ({self.failures} tries in a row): {self.last_error}"

    def to_json(self, after: int) -> dict[str, object]:
        return {
            "channel": self.channel,
            "failing": self.failing(after),
            "failures_in_a_row": self.failures,
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "last_error": self.last_error,
            "last_failure_at": self.last_failure_at.isoformat() if self.last_failure_at else None,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
        }


class ChannelHealthStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = store.clock

    def failed(self, administration_id: int, channel: str, error: str) -> tuple[ChannelState, ChannelState]:
        """One more failure in a row; returns the state before and after."""
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            row = self._row(session, administration_id, channel)
            before = _state(row)
            row.failures += 1
            row.failing_since = row.failing_since or now
            row.last_error = error
            row.last_failure_at = now
            session.add(row)
            after = _state(row)
        return before, after

    def succeeded(self, administration_id: int, channel: str) -> ChannelState:
        """A message went through: the failures in a row are over. Returns the state before."""
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            row = self._row(session, administration_id, channel)
            before = _state(row)
            row.failures = 0
            row.failing_since = None
            row.last_success_at = now
            session.add(row)
        return before

    def states(self) -> dict[int, list[ChannelState]]:
        """Every administration's channels that were ever used, in one query."""
        found: dict[int, list[ChannelState]] = {}
        with self.store.session() as session:
            for row in session.exec(select(ChannelHealth).order_by(ChannelHealth.channel)):
                found.setdefault(row.administration_id, []).append(_state(row))
        return found

    @staticmethod
    def _row(session: Session, administration_id: int, channel: str) -> ChannelHealth:
        row = session.get(ChannelHealth, (administration_id, channel))
        return row if row is not None else ChannelHealth(administration_id=administration_id, channel=channel)


def _state(row: ChannelHealth) -> ChannelState:
    return ChannelState(
        row.channel, row.failures, row.failing_since, row.last_error, row.last_failure_at, row.last_success_at
    )
