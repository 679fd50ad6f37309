"""How often an administration may sync when its ledger has a daily call budget (pure; no I/O).

Exact Online allows 5,000 calls a day per app and division. The daemon keeps a reserve for people and
other tools and spreads what is left over the rest of the day: when the remaining budget would not
carry cycles at the configured interval until the budget resets, the interval stretches. Nothing is
saved up: an administration never syncs more often than configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connector.ledger.port import ApiBudget


@dataclass(frozen=True)
class Pace:
    interval_seconds: float  # at least the configured interval
    stretched: bool
    reason: str | None = None


def pace(
    interval_seconds: float, budget: ApiBudget | None, calls_per_cycle: float, reserve: int, now: datetime
) -> Pace:
    """The interval between cycles that the remaining daily budget can carry until it resets."""
    if budget is None or budget.resets_at <= now:
        return Pace(interval_seconds, False)
    seconds_left = (budget.resets_at - now).total_seconds()
    spendable = budget.remaining - reserve
    if spendable < max(calls_per_cycle, 1):
        return Pace(
            max(interval_seconds, seconds_left),
            True,
            f"{budget.remaining} of {budget.limit} calls left today, {reserve} kept in reserve: waiting for the reset",
        )
    affordable_cycles = spendable / max(calls_per_cycle, 1)
    needed = seconds_left / affordable_cycles
    if needed <= interval_seconds:
        return Pace(interval_seconds, False)
    return Pace(
        needed,
        True,
        f"{budget.remaining} of {budget.limit} calls left today at ~{calls_per_cycle:.0f} a cycle: "
        f"every {needed / 60:.0f} min instead of {interval_seconds / 60:.0f}",
    )


def average_calls(previous: float | None, latest: int, weight: float = 0.3) -> float:
    """A moving average of calls per cycle: one busy dispatch day does not starve the rest of the week."""
    return float(latest) if previous is None else (1 - weight) * previous + weight * latest
