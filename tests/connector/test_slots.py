"""Work slots with real threads: the bound holds, and a cycle waiting on a ledger's rate limit lends its slot."""

from __future__ import annotations

import threading
import time

from connector.ledger.http import RateLimit, RateLimiter, idle_sleep
from connector.slots import WorkSlots


class Occupancy:
    """Counts the threads inside a section, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def run_threads(*targets: object) -> None:
    threads = [threading.Thread(target=target) for target in targets]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_no_more_cycles_work_at_once_than_there_are_slots() -> None:
    slots = WorkSlots(2)
    working = Occupancy()

    def cycle() -> None:
        with slots.working(), working:
            time.sleep(0.05)  # work, not a wait on a ledger: keeps the slot

    run_threads(*[cycle] * 8)
    assert working.most == 2
    assert (slots.working_now, slots.waiting_now) == (0, 0)


def test_a_cycle_waiting_on_its_rate_limit_lends_its_slot_and_takes_one_back_before_it_calls() -> None:
    slots = WorkSlots(1)
    limiter = RateLimiter(RateLimit(1, 0.4), learns_from_store=False)  # the production sleep: idle_sleep
    events: list[str] = []
    working = Occupancy()
    first_call_made = threading.Event()

    def rate_limited_cycle() -> None:
        with slots.working():
            with working:
                limiter.acquire()
            first_call_made.set()
            limiter.acquire()  # waits ~0.4 s for the window: the slot is lent meanwhile
            with working:
                events.append("limited cycle made its second call")

    def other_cycle() -> None:
        first_call_made.wait(5)
        time.sleep(0.05)
        with slots.working(), working:
            events.append("other cycle worked")

    run_threads(rate_limited_cycle, other_cycle)
    assert events == ["other cycle worked", "limited cycle made its second call"]
    assert working.most == 1  # never two working at once, although both were in hand together
    assert limiter.waited_seconds > 0.2


def test_a_wait_outside_any_slot_is_a_plain_sleep() -> None:
    started = time.monotonic()
    idle_sleep(0.06)
    assert time.monotonic() - started >= 0.06
    slots = WorkSlots(1)
    with slots.lend():  # nothing held: nothing to lend, and nothing taken afterwards
        pass
    assert slots.working_now == 0
    with slots.working():
        assert slots.working_now == 1
