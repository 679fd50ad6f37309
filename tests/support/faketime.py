"""Running the suite with the date moved (`faketime '+400 days' make test`, as CI does).

libfaketime 0.9.10 (Debian's) with `FAKETIME_DONT_FAKE_MONOTONIC=1` shifts the absolute monotonic deadline that
`time.sleep` hands to `clock_nanosleep` by the fake offset, so every `time.sleep` in the process fails with EINVAL;
timed waits on locks and events are unaffected. The product itself waits with `connector.clock.pause`; for the
libraries the tests drive (`subprocess.wait(timeout=...)`, say), `time.sleep` is replaced by the same wait, and only
where the probe shows that it is broken.
"""

from __future__ import annotations

import time

from connector.clock import pause


def sleep_is_broken() -> bool:
    try:
        time.sleep(0.001)
    except OSError:
        return True
    return False


def repair_sleep() -> bool:
    """Make `time.sleep` a timed wait if this process's `time.sleep` cannot sleep; tell whether it did."""
    if not sleep_is_broken():
        return False
    time.sleep = pause
    return True
