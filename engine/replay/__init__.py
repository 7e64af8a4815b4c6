"""Replay: prepared alerts into Kafka as a timed stream (`open_replay` is where a command line starts one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ReplayConfig
    from .events import ReplayEvent
    from .runner import Replayer


def open_replay(config: ReplayConfig, on_event: Callable[[ReplayEvent], None]) -> Replayer:
    """A Replayer whose Kafka clients are already connecting, and for a prepared folder its topic already being
    created, while the rest of the replay's modules are imported and its index is read (see startup.KafkaLink).

    Raises UserError for settings that cannot work; call `run()` on the result as with any Replayer."""
    from .startup import KafkaLink, creates_early

    config = config.validated()
    link = KafkaLink(config)
    try:
        if creates_early(config):
            link.ask_creation(config)
        from .runner import Replayer
    except BaseException:
        link.close_unused()
        raise
    return Replayer(config, on_event, link)
