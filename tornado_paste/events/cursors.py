"""Is a client's cursor one this deployment's log can serve? Ahead of the log, or behind what it keeps.

A cursor *ahead* of the log (a client of another deployment, or of a log that was reset) would wait
forever for events that never come: the feeds answer it (long-poll: 400 with the current cursor;
WebSocket: a ``reset`` frame, then live events from now). A cursor *behind* the retained window
(older events were trimmed: ``events_max_age`` / ``events_max_count``) cannot be replayed in full:
the client is told it missed events (long-poll: ``"gap": true``; WebSocket: a ``gap`` frame
before the replay of what is left), so it can reload whatever it shows.

Cheap on the common path: a cursor the feed has seen (``<= feed.high``) and that its recent buffer
covers costs nothing; otherwise one indexed read of the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from tornado_paste.events.feed import EventFeed


@dataclass(frozen=True)
class CursorCheck:
    after: int
    current: int  # the newest cursor handed out
    ahead: bool = False
    gap: bool = False
    oldest: int | None = None  # the oldest cursor still in the log (None: the log is empty)

    def gap_frame(self) -> dict[str, object]:
        return {"type": "gap", "cursor": self.after, "oldest": self.oldest, "current": self.current}

    def reset_frame(self) -> dict[str, object]:
        return {"type": "reset", "cursor": self.current}


async def check_cursor(feed: EventFeed, after: int) -> CursorCheck:
    current = feed.high
    if after > current:
        # Another process may have logged events this one has not read yet: ask the log itself.
        current = max(current, await feed.log.last_cursor())
        if after > current:
            return CursorCheck(after, current, ahead=True)
    if after >= feed.buffered_from:
        return CursorCheck(after, current)  # the recent buffer holds everything after it
    first = await feed.log.read_after(0, 1)
    oldest = first[0].cursor if first else None
    # Missed events: some cursor in (after, oldest) was trimmed (an empty log kept none after it).
    missed = (oldest is not None and after + 1 < oldest) or (oldest is None and after < current)
    return CursorCheck(after, current, gap=missed, oldest=oldest)
