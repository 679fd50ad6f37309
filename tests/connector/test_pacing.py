"""Pacing by the daily call budget: the interval the remaining calls can carry until the budget resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.ledger.port import ApiBudget
from connector.pacing import average_calls, pace

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
TEN_MINUTES = 600.0


def budget(remaining: int, *, limit: int = 5000, seconds_left: float = 14.5 * 3600) -> ApiBudget:
    return ApiBudget(limit=limit, remaining=remaining, resets_at=NOW + timedelta(seconds=seconds_left), observed_at=NOW)


def test_without_a_budget_the_configured_interval_holds() -> None:
    result = pace(TEN_MINUTES, None, 30.0, 500, NOW)
    assert (result.interval_seconds, result.stretched, result.reason) == (TEN_MINUTES, False, None)


def test_a_budget_that_has_already_reset_says_nothing() -> None:
    """The last answer is from yesterday: the budget is full again, whatever it said."""
    stale = budget(10, seconds_left=-60)
    result = pace(TEN_MINUTES, stale, 30.0, 500, NOW)
    assert (result.interval_seconds, result.stretched) == (TEN_MINUTES, False)


def test_plenty_left_keeps_the_configured_interval() -> None:
    # 4,500 spendable calls at 30 a cycle: 150 cycles for 87 ten-minute slots.
    result = pace(TEN_MINUTES, budget(5000), 30.0, 500, NOW)
    assert (result.interval_seconds, result.stretched, result.reason) == (TEN_MINUTES, False, None)


def test_just_enough_left_keeps_the_configured_interval() -> None:
    seconds_left = 10 * TEN_MINUTES
    # (800 - 500) / 30 = exactly 10 cycles for exactly 10 slots.
    result = pace(TEN_MINUTES, budget(800, seconds_left=seconds_left), 30.0, 500, NOW)
    assert (result.interval_seconds, result.stretched) == (TEN_MINUTES, False)


def test_little_left_stretches_the_interval_over_the_rest_of_the_day() -> None:
    seconds_left = 14.5 * 3600
    remaining, reserve, per_cycle = 1400, 500, 30.0
    result = pace(TEN_MINUTES, budget(remaining, seconds_left=seconds_left), per_cycle, reserve, NOW)
    expected = seconds_left / ((remaining - reserve) / per_cycle)  # 30 cycles over 14.5 h: every 29 min
    assert result.stretched
    assert result.interval_seconds == pytest.approx(expected)
    assert result.interval_seconds == pytest.approx(1740.0)
    assert result.reason is not None
    assert "1400 of 5000 calls left" in result.reason and "every 29 min instead of 10" in result.reason


def test_below_the_reserve_waits_for_the_reset() -> None:
    seconds_left = 3 * 3600
    for remaining in (520, 500, 320, 0):  # less than one cycle above the reserve, the reserve, below it
        result = pace(TEN_MINUTES, budget(remaining, seconds_left=seconds_left), 30.0, 500, NOW)
        assert result.stretched
        assert result.interval_seconds == pytest.approx(seconds_left)
        assert result.reason is not None and "waiting for the reset" in result.reason
        assert "500 kept in reserve" in result.reason


def test_waiting_for_the_reset_is_never_shorter_than_the_configured_interval() -> None:
    """Two minutes before the reset with nothing left: the next cycle is still ten minutes away."""
    result = pace(TEN_MINUTES, budget(100, seconds_left=120), 30.0, 500, NOW)
    assert result.stretched and result.interval_seconds == TEN_MINUTES


def test_a_cycle_that_costs_nothing_yet_counts_as_one_call() -> None:
    """No estimate yet (0 calls a cycle) must not divide by zero nor allow unlimited cycles."""
    result = pace(TEN_MINUTES, budget(510, seconds_left=3600), 0.0, 500, NOW)
    # 10 spendable single calls over an hour: every 6 minutes fits the configured 10.
    assert (result.interval_seconds, result.stretched) == (TEN_MINUTES, False)
    starved = pace(TEN_MINUTES, budget(500, seconds_left=3600), 0.0, 500, NOW)
    assert starved.stretched and starved.interval_seconds == pytest.approx(3600)


def test_average_calls_starts_at_the_first_cycle_and_moves_slowly() -> None:
    assert average_calls(None, 40) == 40.0
    assert average_calls(40.0, 140) == pytest.approx(70.0)  # 0.7 * 40 + 0.3 * 140
    assert average_calls(40.0, 140, weight=0.5) == pytest.approx(90.0)
    # One busy dispatch day, then quiet ones: the estimate comes back down.
    estimate = average_calls(None, 20)
    estimate = average_calls(estimate, 400)
    assert 20 < estimate < 400
    for _ in range(20):
        estimate = average_calls(estimate, 20)
    assert estimate == pytest.approx(20, abs=0.5)


@given(
    interval=st.integers(min_value=60, max_value=3600),
    seconds_left=st.integers(min_value=1, max_value=86_400),
    limit=st.integers(min_value=1, max_value=10_000),
    remaining_share=st.floats(min_value=0, max_value=1),
    calls=st.integers(min_value=1, max_value=400),
    reserve=st.integers(min_value=0, max_value=2000),
)
def test_following_the_pace_never_spends_the_reserve(
    interval: int, seconds_left: int, limit: int, remaining_share: float, calls: int, reserve: int
) -> None:
    """A daemon that waits the returned interval between cycles (asking again after each one) spends at
    most what is above the reserve before the budget resets, and never syncs more often than configured."""
    remaining = int(limit * remaining_share)
    resets_at = NOW + timedelta(seconds=seconds_left)
    now, left, spent, cycles = NOW, remaining, 0, 0
    while True:
        result = pace(interval, ApiBudget(limit, left, resets_at, now), float(calls), reserve, now)
        assert result.interval_seconds >= interval
        now += timedelta(seconds=result.interval_seconds)
        if now >= resets_at:
            break
        left -= calls  # the next cycle
        spent += calls
        cycles += 1
    assert spent <= max(0, remaining - reserve)
    # ...and it does not starve: with two cycles' worth above the reserve, at least one runs before the
    # reset whenever the configured interval fits (N affordable cycles are spread so the N-th is at the reset).
    if remaining - reserve >= 2 * calls and interval < seconds_left:
        assert cycles >= 1
