"""`--resume`: the checkpoint, checked against the prepared alerts and against what the topic holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UserError
from .checkpoint import Checkpoint, CheckpointState
from .config import ReplayConfig
from .plan import ReplayPlan, remaining


def load_checkpoint(checkpoint: Checkpoint, entries: list[Any]) -> CheckpointState | None:
    """The saved state for this job, or None; UserError if it cannot belong to these prepared alerts."""
    state = checkpoint.load()
    if state is None:
        return None
    if state.done > len(entries) or any(i >= len(entries) for i in state.beyond) or (
            state.done and entries[state.done - 1].dia_source_id != state.last_source_id):
        raise UserError(f"{checkpoint.path}: the checkpoint does not match the prepared alerts (prepared again?); "
                        "remove it or run with --resume --from-scratch")
    return state


def resume_from(saved: CheckpointState, config: ReplayConfig, checkpoint: Checkpoint, plan: ReplayPlan,
                expected: Callable[[int], bytes], alerts: int) -> tuple[CheckpointState, ReplayPlan, str]:
    """The state to continue from (the topic's unrecorded deliveries added), the plan left, and the note."""
    from . import readback

    found = readback.reconcile(saved, bootstrap=config.bootstrap, topic=config.topic, kafka=config.kafka,
                               where=str(checkpoint.path), expected=expected, alerts=alerts)
    state = found.state
    left = remaining(plan, state.done)
    extra = f"; {found.found} of them found in the topic beyond what the checkpoint had recorded" if found.found else ""
    foreign = (f"; {found.foreign} later messages in the topic are not alerts of this replay waiting for "
               "confirmation" if found.foreign else "")
    note = (f"--resume: {state.delivered} alerts were already delivered (checkpoint {checkpoint.path}){extra}"
            f"{foreign}; {left.to_send - in_plan(left, state.beyond)} to go")
    return state, left, note


def in_plan(plan: ReplayPlan, indexes: set[int]) -> int:
    """How many of `indexes` the plan covers."""
    return sum(1 for i in indexes for o in plan.observations if o.start <= i < o.stop)
