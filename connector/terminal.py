"""Progress on a terminal for the long one-shot commands (a first sync, a dispatch behind a rate limit).

Only when stderr is a terminal: a script, a pipe or a log file gets the usual summary lines and nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Line(Protocol):
    def __call__(self, text: str, *, done: int | None = None, total: int | None = None) -> None: ...


@contextmanager
def progress(stream: IO[str] | None = None) -> Iterator[Progress | None]:
    """A live display on `stream` (default stderr) if it is a terminal, else None."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield None
        return
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,  # the summary lines that follow are what stays
    )
    with display:
        yield display


def line(display: Progress | None, text: str) -> Line:
    """One line of the display (a no-op without one): update its text and, when known, how far it is."""
    if display is None:
        return lambda text, *, done=None, total=None: None
    task = display.add_task(text, total=None)

    def update(text: str, *, done: int | None = None, total: int | None = None) -> None:
        display.update(task, description=text, completed=done, total=total)

    return update
