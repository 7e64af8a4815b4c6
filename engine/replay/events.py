"""What a replay reports, in order: the CLI printer and the TUI are two views of these events."""

from __future__ import annotations

from dataclasses import dataclass, field

# Every event has a docstring: a dataclass without one gets a docstring made from its signature, which cost
# ~0.2 ms per class of every replay's start-up (inspect.signature).


@dataclass(frozen=True)
class ReplayPlanned:
    """Everything checked, nothing sent yet: what the run will do."""

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
    """The clock of the schedule starts (the reference's `t0:` line)."""

    t0: float  # wall clock (time.time()), as the reference prints it


@dataclass(frozen=True)
class ObservationStarted:
    """An observation's alerts are about to be handed to the producer."""

    number: int       # from 1; a resumed run keeps the numbers of the full plan
    offset_s: float   # start - t0
    size: int


@dataclass(frozen=True)
class ObservationDelivered:
    """Every alert of an observation has its delivery report, and the checkpoint saying so is on disk."""

    number: int
    count: int                # alerts of this observation with a successful delivery report
    first: object             # DISPLAY_FIELD of the first and last alerts (None when DISPLAY_FIELD is 'None')
    last: object
    offset_s: float           # when the last delivery report arrived, relative to t0
    delivered_total: int
    to_send: int


@dataclass(frozen=True)
class AlertFailed:
    """An alert the broker did not take (or that was given up): it is not in the checkpoint."""

    file: str
    reason: str


@dataclass(frozen=True)
class Note:
    """Something the user should read, in the run's own words."""

    text: str


@dataclass(frozen=True)
class ReplayFinished:
    """The last event of a run, whether it completed, was interrupted or gave up."""

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
