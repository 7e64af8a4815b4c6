"""A deterministic visit model: when, inside its night, was an epoch observed.

The bundled SNANA simulation has whole-day MJDs with all six bands on the same day, so every
alert of a night would carry the same time. Real streams have many visits a night, each alert
of a visit sharing one midPointTai. Here each (night, sky field, band) gets ONE exposure time:

- night  = integer part of the MJD (this is also the NITE number of the batch files);
- field  = a cell of about the Rubin field of view (3.5 deg) in Dec and RA (RA cells widened by
  1/cos(dec) so that they keep the same area on the sky);
- time   = night + 0.4 * u, with u in [0, 1) taken from a BLAKE2b hash of (night, field, band), and
  cut to 4 decimals like the real stream (59582.0513). 0.0-0.4 day after 0h UTC is the
  Chilean night.

Two visits of a night never share a time (see assign_visit_times). An MJD that already has a
fractional part (a simulation with real visit times) is kept, only rounded to 4 decimals.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from .snana import LightCurve

FIELD_SIZE_DEG = 3.5
NIGHT_SPAN_DAYS = 0.4
TIME_DECIMALS = 4
_SLOTS = round(NIGHT_SPAN_DAYS * 10**TIME_DECIMALS)


def sky_field(ra: float, dec: float) -> str:
    dec_cell = math.floor((dec + 90.0) / FIELD_SIZE_DEG)
    dec_centre = -90.0 + (dec_cell + 0.5) * FIELD_SIZE_DEG
    ra_width = FIELD_SIZE_DEG / max(math.cos(math.radians(dec_centre)), 0.05)
    ra_cell = math.floor((ra % 360.0) / ra_width)
    return f"{dec_cell}.{ra_cell}"


def visit_time(night: int, field: str, band: str) -> float:
    digest = hashlib.blake2b(f"{night}|{field}|{band}".encode(), digest_size=8).digest()
    # Floor, not round, to the 4 decimals: a time never reaches night + NIGHT_SPAN_DAYS.
    slot = int.from_bytes(digest, "big") * _SLOTS >> 64
    return round(night + slot / 10**TIME_DECIMALS, TIME_DECIMALS)


def assign_visit_times(light_curves: Sequence[LightCurve]) -> list[np.ndarray]:
    """Visit time of every epoch of every light curve (same order as `lc.mjd`).

    Two visits of a night that hash to the same rounded time are moved apart by 0.0001 day (one
    telescope takes one exposure at a time). Collisions are resolved over the sorted set of
    visits, so the result depends only on which visits exist, not on object order; callers pass
    every object of the file so that a subset (--objects) gets the same times.
    """
    keys_per_lc: list[list[tuple[int, str, str] | float]] = []
    visits: set[tuple[int, str, str]] = set()
    for lc in light_curves:
        field = sky_field(lc.ra, lc.dec)
        keys: list[tuple[int, str, str] | float] = []
        for day, band in zip(lc.mjd.tolist(), lc.band.tolist(), strict=True):
            night = math.floor(day)
            if day != night:
                keys.append(round(day, TIME_DECIMALS))
            else:
                key = (night, field, band)
                keys.append(key)
                visits.add(key)
        keys_per_lc.append(keys)

    step = 10.0**-TIME_DECIMALS
    taken: dict[int, set[int]] = {}
    schedule: dict[tuple[int, str, str], float] = {}
    for key in sorted(visits, key=lambda k: (k[0], visit_time(*k), k[1], k[2])):
        night = key[0]
        used = taken.setdefault(night, set())
        slot = round((visit_time(*key) - night) / step)
        while slot in used:
            slot = (slot + 1) % _SLOTS
        used.add(slot)
        schedule[key] = round(night + slot * step, TIME_DECIMALS)
    return [
        np.array([k if isinstance(k, float) else schedule[k] for k in keys], dtype=np.float64)
        for keys in keys_per_lc
    ]
