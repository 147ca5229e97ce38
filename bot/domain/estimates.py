"""How long a render usually takes, measured from this bot's own recent renders of the same kind.

A sample is one finished render: the seconds from its submit to the moment the bot saw it finished at the API.
The card shows the typical range (median to 90th percentile) and the tracker schedules its status calls from
the same figures (no call long before the earliest plausible finish). With too few renders of the exact kind
(model, quality, clip length), the model's renders of any kind stand in; with too few of those, there is no
estimate: the card says so rather than guessing, and the tracker polls as it always did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Renders of one kind an estimate is taken from: recent enough to follow the gateway's load, enough for a p90.
LAST_RENDERS = 50
# Fewer than this and the figures are one or two lucky (or unlucky) renders: no estimate.
MIN_SAMPLES = 5


@dataclass(frozen=True)
class RenderKind:
    """What decides a render's time: the model, the quality ("std"/"pro") and the clip's length in seconds."""

    model: str
    quality: str
    duration: int


@dataclass(frozen=True)
class Sample:
    kind: RenderKind
    seconds: float  # from submit to finished at the API


@dataclass(frozen=True)
class Estimate:
    median: float
    p90: float
    low: float  # the 10th percentile (the fastest render when there are fewer than ten): the earliest plausible end
    samples: int
    kind: RenderKind  # the kind asked about
    exact: bool  # measured on that kind; False: on the model's renders of any quality and length


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest rank of an ascending, non-empty list: always a real sample, and p10 of fewer than ten is the min."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _scaled(sample: Sample, duration: int) -> float:
    """A render of another clip length, as a time for `duration`, leaning early.

    Two simple facts bound it: a longer clip never renders faster than a shorter one of the same model, and its
    time grows at most in proportion to the length (queueing and setup do not grow with it). So a longer
    sample is scaled down in proportion and a shorter one is kept as it is: either way at most what the wanted
    length takes. Leaning early costs the tracker a status call or two; leaning late would delay clips.
    """
    if sample.kind.duration > duration > 0:
        return sample.seconds * duration / sample.kind.duration
    return sample.seconds


def _estimate(seconds: list[float], kind: RenderKind, *, exact: bool) -> Estimate:
    ordered = sorted(seconds)
    return Estimate(
        median=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        low=percentile(ordered, 10),
        samples=len(ordered),
        kind=kind,
        exact=exact,
    )


def estimate(
    samples: Iterable[Sample], kind: RenderKind, *, last: int = LAST_RENDERS, min_samples: int = MIN_SAMPLES
) -> Estimate | None:
    """The estimate for `kind` from `samples` (newest first): its own last renders, else its model's, else None."""
    exact: list[float] = []
    model: list[float] = []
    for sample in samples:
        if not (math.isfinite(sample.seconds) and sample.seconds > 0):
            continue  # a clock that jumped back, or a row written by hand: not a measurement
        if sample.kind.model != kind.model:
            continue
        if sample.kind == kind and len(exact) < last:
            exact.append(sample.seconds)
        if len(model) < last:
            model.append(_scaled(sample, kind.duration))
        if len(exact) >= last:
            break
    if len(exact) >= min_samples:
        return _estimate(exact, kind, exact=True)
    if len(model) >= min_samples:
        return _estimate(model, kind, exact=False)
    return None


class EstimateTable:
    """The samples of one read of the database, with each kind's estimate worked out once (it is asked per poll)."""

    def __init__(self, samples: Iterable[Sample], *, last: int = LAST_RENDERS, min_samples: int = MIN_SAMPLES) -> None:
        self._by_model: dict[str, list[Sample]] = {}
        for sample in samples:
            self._by_model.setdefault(sample.kind.model, []).append(sample)
        self._last = last
        self._min = min_samples
        self._known: dict[RenderKind, Estimate | None] = {}

    def __len__(self) -> int:
        return sum(len(samples) for samples in self._by_model.values())

    def estimate(self, kind: RenderKind) -> Estimate | None:
        if kind not in self._known:
            samples = self._by_model.get(kind.model, [])
            self._known[kind] = estimate(samples, kind, last=self._last, min_samples=self._min)
        return self._known[kind]


def expected_start_in(place: int, slots: int, typical: float) -> float:
    """Seconds until a render `place`-th in the bot's queue is likely sent, with `slots` renders at the API at once
    taking `typical` seconds each.

    With every slot busy, renders at various points of their run, a slot frees about every `typical / slots`
    seconds on average, and this render goes at the `place`-th such moment. Only an order of magnitude (the card
    says "about"): a newcomer may take its round-robin turn ahead of it, and renders end when they end.
    """
    if place < 1 or slots < 1 or typical <= 0:
        return 0.0
    return place * typical / slots
