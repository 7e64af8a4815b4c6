"""A replay's pieces that need the index or the broker but not the run: loading, checks, encoding.

Speed comes from not touching the alerts: prepare stored every alert's schemaless bytes in the index,
so the default path hands those bytes to librdkafka as they are. Only EXTERNAL_SCHEMA (re-encoding
with another schema) and a DISPLAY_FIELD that the index does not carry decode anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..prepare.index import R_SOURCE_ID
from .checkpoint import Checkpoint, CheckpointState
from .config import ReplayConfig
from .delivery import DeliveryTracker
from .encoding import MessageEncoding, message_encoding
from .events import Note, ReplayEvent
from .lock import JobLock
from .plan import ReplayPlan


def load_index(config: ReplayConfig, emit: Callable[[ReplayEvent], None]) -> Any:
    from ..prepare.index import AlertIndex

    if AlertIndex.locate(config.data) is None:
        from ..prepare.run import prepare

        emit(Note(f"{config.data} is not prepared yet: preparing it first "
                  f"(same as `elasticc-stream prepare {config.data}`)"))
        report = prepare(config.data, schema=config.schema)
        if report.errors:
            emit(Note(f"prepare set aside {len(report.errors)} bad inputs in {config.data}; "
                      f"`elasticc-stream prepare {config.data}` lists them"))
    index = AlertIndex.load(config.data)
    if not index.entries:
        raise UserError(f"{config.data}: no alerts in the prepared folder")
    return index


def external_encoded(index: Any, config: ReplayConfig, plan: ReplayPlan,
                     confirmed: Callable[[int], bool]) -> dict[int, bytes] | None:
    """With EXTERNAL_SCHEMA, encode up front every alert to send that was not prepared with it.

    Encoding is the check (an alert that does not fit stops the run, naming its file) and its result is
    what is sent: each alert is decoded and encoded once. None when no alert needs re-encoding.
    """
    if config.schema is None:
        return None
    from ..decoder import encode_schemaless, fingerprint, load_schema_file

    schema = load_schema_file(config.schema)
    fp = fingerprint(schema)
    entries = index.entries
    encoded: dict[int, bytes] = {}
    for obs in plan.observations:
        for i in range(obs.start, obs.stop):
            entry = entries[i]
            if confirmed(i) or entry.schema_fp == fp:
                continue  # prepared with this very schema: the stored bytes are already its encoding
            try:
                encoded[i] = encode_schemaless(index.record(entry), schema)
            except ValueError as exc:
                problem = " ".join(str(exc).split())[:300]
                raise UserError(f"{index.path(entry)}: does not fit EXTERNAL_SCHEMA {config.schema}: "
                                f"{problem}") from None
    return encoded or None


def encoding(index: Any, config: ReplayConfig, partitions: int) -> MessageEncoding:
    """Key, partition and framing of every message (see engine.replay.encoding) into `partitions` partitions."""
    registry = None
    if config.schema_registry:
        from ..wire.registry import Registry

        registry = Registry(config.schema_registry, config.registry)
    return message_encoding(index, config, partitions, registry)


@dataclass
class Job:
    """A replay ready to send: everything checked."""

    index: Any
    plan: ReplayPlan
    to_send: int
    tracker: DeliveryTracker
    checkpoint: Checkpoint
    lock: JobLock
    producer: Any
    display: Callable[[Any], object] | None
    encoded: dict[int, bytes] | None  # EXTERNAL_SCHEMA: index -> bytes re-encoded by the up-front check
    encoding: MessageEncoding

    def state(self, complete: bool = False) -> CheckpointState:
        index = self.index
        return self.tracker.state(lambda i: index.records(i, i + 1)[0][R_SOURCE_ID], complete)
