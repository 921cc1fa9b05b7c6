"""The one clock of what leadgraph stores: ``now()`` is UTC, to the millisecond MongoDB keeps (so
a time read back equals the one written).  Services, the store and the events take the time
from here, never from ``datetime.now`` of their own; tests set it (``set_clock``,
:class:`ManualClock`) instead of sleeping for time to pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: a source of the current time: an aware UTC datetime
Source = Callable[[], datetime]


def system() -> datetime:
    """The machine's time (the source unless one is set)."""
    return datetime.now(UTC)


_source: Source = system


def now() -> datetime:
    """The current time of the clock, truncated to milliseconds."""
    return _millis(_source())


def _millis(t: datetime) -> datetime:
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def set_clock(source: Source | None) -> Source:
    """Take the time from ``source`` from now on (``None``: the machine's); returns the source
    it replaces, to put back."""
    global _source
    previous = _source
    _source = source or system
    return previous


class ManualClock:
    """A clock that moves only when told (``advance``): what a test sets to make time pass."""

    def __init__(self, start: datetime | None = None) -> None:
        self.time = _millis((start or system()).astimezone(UTC))

    def __call__(self) -> datetime:
        return self.time

    def advance(self, delta: timedelta = timedelta(seconds=1)) -> datetime:
        """Move the clock forward by ``delta``; returns the new time."""
        if delta < timedelta(0):
            raise ValueError("a clock does not go back")
        self.time += delta
        return _millis(self.time)
