"""What a replay reports, in order: the CLI printer and the TUI are two views of these events."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReplayPlanned:
    path: str
    available: int
    to_send: int
    per_obs: int
    observations: int
    interval: float
    topic: str
    bootstrap: str
    partitions: int
    display_field: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReplayStarted:
    t0: float  # wall clock (time.time()), as the reference prints it


@dataclass(frozen=True)
class ObservationStarted:
    number: int       # from 1; a resumed run keeps the numbers of the full plan
    offset_s: float   # start - t0
    size: int


@dataclass(frozen=True)
class ObservationDelivered:
    number: int
    count: int                # alerts of this observation with a successful delivery report
    first: object             # DISPLAY_FIELD of the first and last alerts (None when DISPLAY_FIELD is 'None')
    last: object
    offset_s: float           # when the last delivery report arrived, relative to t0
    delivered_total: int
    to_send: int


@dataclass(frozen=True)
class AlertFailed:
    file: str
    reason: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class ReplayFinished:
    sent: int
    delivered: int
    failed: int
    failed_files: list[str]
    observations: int          # observations fully or partly delivered in this run
    seconds: float
    interrupted: bool


ReplayEvent = (
    ReplayPlanned | ReplayStarted | ObservationStarted | ObservationDelivered | AlertFailed | Note | ReplayFinished
)
