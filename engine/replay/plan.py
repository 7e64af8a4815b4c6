"""Cutting the time-sorted alerts into observations and scheduling their starts (pure, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

SECONDS_PER_DAY = 86400.0


class _Timed(Protocol):
    mid_point_tai: float


@dataclass(frozen=True)
class Observation:
    number: int        # from 1, in the full plan
    start: int         # slice [start, stop) of the sorted index entries
    stop: int
    offset_s: float    # scheduled start, seconds after t0

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ReplayPlan:
    available: int
    observations: tuple[Observation, ...]
    notes: tuple[str, ...] = ()

    @property
    def to_send(self) -> int:
        return sum(o.size for o in self.observations)

    @property
    def per_obs(self) -> int:
        return max((o.size for o in self.observations), default=0)


def plan_replay(entries: Sequence[_Timed], *, per_obs: int, observations: int, interval: float,
                by_visit: bool = False, speed: float | None = None, path: str = "") -> ReplayPlan:
    """Observations over `entries` (already sorted by midPointTai then diaSourceId).

    NALERTS_PER_OBS alerts each (the last may be partial), or one per exposure with `by_visit`;
    `observations` = -1 takes everything; asking for more than exists takes everything, with a note.
    """
    available = len(entries)
    notes: list[str] = []
    bounds = _visits(entries) if by_visit else _chunks(available, per_obs)
    unit = "visits" if by_visit else "observations"
    if observations == -1:
        chosen = bounds
        if by_visit:
            notes.append(f"All {available} alerts to be sent (NOBSERVATIONS=-1), corresponding to "
                         f"{len(bounds)} visits.")
        else:
            notes.append(f"All {available} alerts to be sent (NOBSERVATIONS=-1), corresponding to "
                         f"{len(bounds)} observations ({per_obs} alerts each).")
    elif observations > len(bounds):
        chosen = bounds
        required = "NOBSERVATIONS" if by_visit else "NALERTS_PER_OBS x NOBSERVATIONS"
        asked = observations if by_visit else per_obs * observations
        where = f" ({path})" if path else ""
        notes.append(f"You ask for more data than you have! Alerts on disk{where}: {available}; "
                     f"{required}: {asked} {'visits' if by_visit else 'alerts'} required. "
                     f"Hence, we reduced the number of {unit} to {len(bounds)}.")
    else:
        chosen = bounds[:observations]
    if by_visit:
        notes.append("--by-visit: one observation per exposure (alerts sharing midPointTai); "
                     "NALERTS_PER_OBS is not used")
    offsets = _schedule(entries, [start for start, _ in chosen], interval, speed)
    planned = tuple(Observation(i + 1, start, stop, offsets[i]) for i, (start, stop) in enumerate(chosen))
    return ReplayPlan(available, planned, tuple(notes))


def _chunks(available: int, per_obs: int) -> list[tuple[int, int]]:
    count = math.ceil(available / per_obs)
    return [(i * per_obs, min((i + 1) * per_obs, available)) for i in range(count)]


def _visits(entries: Sequence[_Timed]) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(entries) + 1):
        if i == len(entries) or entries[i].mid_point_tai != entries[start].mid_point_tai:
            bounds.append((start, i))
            start = i
    return bounds


def _schedule(entries: Sequence[_Timed], starts: list[int], interval: float, speed: float | None) -> list[float]:
    if speed and starts:
        # A night replayed as it happened (speed 1) or faster: real gaps between exposures, scaled.
        times = [entries[start].mid_point_tai for start in starts]
        return [(t - times[0]) * SECONDS_PER_DAY / speed for t in times]
    return [i * interval for i in range(len(starts))]


def remaining(plan: ReplayPlan, done: int) -> ReplayPlan:
    """The plan without its first `done` alerts (already delivered): observations keep their numbers
    and spacing, and the first one left starts at once."""
    kept: list[Observation] = []
    for obs in plan.observations:
        if obs.stop <= done:
            continue
        kept.append(replace(obs, start=max(obs.start, done)))
    if kept:
        base = kept[0].offset_s
        kept = [replace(o, offset_s=o.offset_s - base) for o in kept]
    return ReplayPlan(plan.available, tuple(kept), plan.notes)
