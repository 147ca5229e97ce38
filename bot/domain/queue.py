"""The bot's own queue: which waiting render is sent to the API next, and how many may be sent now.

Pure rules; storage reads the rows, calls these inside the transaction that admits a render, and writes the result.

Fairness is a round robin over the renders waiting now, across servers, then across the members of a server, first
come first served for one member: a member's k-th waiting render is in round k, so a member who asked for four
takes has one of them in each of the first four rounds, and everybody else's first render is in round one with it.
A round robin recomputed over the waiting renders alone would forget what it already gave: the member of the four
takes, whose renders are the oldest, would be first of every round again after each admission and get every other
slot. So renders already started while others waited count as rounds already served: a member (or server) whose
renders were started since the oldest render still waiting (of that server, or of all) arrived starts its waiting
renders that many rounds later. Everything is derived from the rows (arrival time, take, id, when each was
started), so a restart, or another process on the same database, computes the same order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Places up to here are shown exactly; further back only roughly (rounded up to a ten), so a card far back in a
# long line is not edited every time the line moves by one.
EXACT_PLACES = 10


@dataclass(frozen=True)
class Waiting:
    """A render waiting to be sent to the API."""

    id: str
    guild_id: int
    user_id: int
    created_at: datetime
    take_index: int = 1


@dataclass(frozen=True)
class Started:
    """A render sent to the API (when it was first let through), whatever became of it since."""

    guild_id: int
    user_id: int
    started_at: datetime


@dataclass(frozen=True)
class ApiHold:
    """The gateway refused one more render (429) while it had `at_api` of ours: send no more than that until
    `until`; after it, one at a time, to see whether it takes more."""

    at_api: int
    until: datetime


def fair_order(waiting: Iterable[Waiting], started: Iterable[Started] = ()) -> list[str]:
    """The ids of the waiting renders in the order they should be sent to the API (see the module docstring)."""
    pending = list(waiting)
    if not pending:
        return []
    starts = list(started)
    by_guild: dict[int, list[Waiting]] = defaultdict(list)
    for render in pending:
        by_guild[render.guild_id].append(render)
    oldest = min(render.created_at for render in pending)
    guild_served = _count(start.guild_id for start in starts if start.started_at >= oldest)
    keyed: list[tuple[int, datetime, int, int, str]] = []
    for guild_id, renders in by_guild.items():
        sequence = _members_round_robin(renders, [s for s in starts if s.guild_id == guild_id])
        guild_oldest = min(render.created_at for render in renders)
        for turn, render_id in enumerate(sequence):
            keyed.append((guild_served.get(guild_id, 0) + turn, guild_oldest, guild_id, turn, render_id))
    keyed.sort()
    return [render_id for *_, render_id in keyed]


def _members_round_robin(renders: Sequence[Waiting], started: Sequence[Started]) -> list[str]:
    """One server's waiting renders in its own round-robin order across its members."""
    oldest = min(render.created_at for render in renders)
    served = _count(start.user_id for start in started if start.started_at >= oldest)
    by_member: dict[int, list[Waiting]] = defaultdict(list)
    for render in renders:
        by_member[render.user_id].append(render)
    keyed: list[tuple[int, datetime, int, int, str]] = []
    for user_id, own in by_member.items():
        own.sort(key=lambda r: (r.created_at, r.take_index, r.id))
        first = own[0].created_at
        for turn, render in enumerate(own):
            keyed.append((served.get(user_id, 0) + turn, first, user_id, turn, render.id))
    keyed.sort()
    return [render_id for *_, render_id in keyed]


def _count(keys: Iterable[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for key in keys:
        counts[key] += 1
    return counts


def free_slots(cap: int | None, hold: ApiHold | None, *, taken: int, sending: int, now: datetime) -> int | None:
    """How many more renders may be sent to the API now; None when nothing limits it.

    `taken` renders the gateway has (queued or rendering there), `sending` creates in flight. `cap` is
    MAX_RENDERS_AT_API. Under a hold, no more than the gateway had when it refused one; once the hold is over,
    one create at a time (each may go once the one before was taken), so a gateway still full refuses one render,
    not the whole queue.
    """
    limit = cap
    if hold is not None:
        held = hold.at_api if now < hold.until else taken + 1
        limit = held if limit is None else min(limit, held)
    if limit is None:
        return None
    return max(0, limit - taken - sending)


def hold_after_refusal(
    at_api: int, *, now: datetime, backoff: float, fallback: float, retry_after: float | None
) -> ApiHold:
    """The hold to keep after the gateway refused a create (429) while `at_api` other renders of ours were there.

    With renders of ours at the API, the refusal is most likely the key's concurrency cap: wait for one of them to
    finish (the count drops under `at_api`), or `fallback` seconds at most. With none, it is the gateway's own
    load: wait as one render's back-off would have (`backoff`), but for the whole queue at once. A Retry-After
    is waited out either way.
    """
    wait = fallback if at_api > 0 else backoff
    return ApiHold(at_api=at_api, until=now + timedelta(seconds=max(wait, retry_after or 0.0)))


def places(order: Sequence[str], free: int | None) -> dict[str, int | None]:
    """Each waiting render's place in line: 1 is next once a slot frees; None for those sent now (within the free
    slots) and for every render when nothing limits the queue."""
    if free is None:
        return dict.fromkeys(order)
    return {render_id: (index - free + 1 if index >= free else None) for index, render_id in enumerate(order)}


def shown_place(place: int | None) -> int | None:
    """The place a card shows: exact up to EXACT_PLACES, further back rounded up to a ten (shown as "about")."""
    if place is None or place <= EXACT_PLACES:
        return place
    return -(-place // 10) * 10


@dataclass(frozen=True)
class Turn:
    """Whether a waiting render may be sent to the API now, and if not, what keeps it."""

    go: bool
    free: int | None = None  # slots free at the API when it was decided (None: nothing limits it)
    hold: ApiHold | None = None

    def next_look(self, now: datetime, *, recheck: timedelta, deadline: datetime | None) -> timedelta:
        """How long a render refused its turn waits before it asks again.

        The tracker's queue pass makes it due as soon as a slot is its, so this is only the longest wait: the end
        of a hold that keeps every slot shut, else `recheck`, and never past its submit deadline.
        """
        until = now + recheck
        if self.hold is not None and now < self.hold.until and not self.free:
            until = min(until, self.hold.until)
        if deadline is not None:
            # Just past it: the deadline fails a render only once it has passed.
            until = min(until, max(now, deadline + timedelta(seconds=1)))
        return until - now
