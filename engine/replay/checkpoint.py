"""Where an interrupted replay got to, so `--resume` sends each alert exactly once, even after a SIGKILL.

What the file records, all in index order:
- `done`: alerts [0, done) all have a successful delivery report; `beyond`: the few confirmed past a gap
  (reports of different partitions arrive out of order; an alert failed or was not handed over);
- `intent`: no alert at or after it was ever handed to the producer. It is on disk *before* the alert is
  handed over, so after a crash the alerts that may be in the topic without a recorded report are the
  unconfirmed ones below `intent`: few, and `readback` finds which of them the topic really holds;
- per partition, the next offset after the last confirmed message and which alert that message is: where
  the read-back starts, and a message that must still be there (a lost or recreated topic is noticed).
Counting alerts rather than observations keeps a resume exact even if NALERTS_PER_OBS changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

VERSION = 2


@dataclass(frozen=True)
class PartitionMark:
    next: int                      # read-back starts here: every later message of this job is unrecorded
    last_offset: int | None = None  # the last confirmed message of this job in the partition...
    last_pos: int | None = None     # ...and the alert (index position) it holds


@dataclass
class CheckpointState:
    done: int = 0                              # alerts [0, done) delivered
    beyond: set[int] = field(default_factory=set)  # delivered indexes >= done
    last_source_id: int | None = None          # diaSourceId of alert done-1: detects a changed index
    complete: bool = False
    intent: int = 0                            # alerts >= intent were never handed over
    partitions: dict[int, PartitionMark] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return self.done + len(self.beyond)

    def copy(self) -> CheckpointState:
        return CheckpointState(self.done, set(self.beyond), self.last_source_id, self.complete, self.intent,
                               dict(self.partitions))


def checkpoint_key(topic: str, bootstrap: str, data: Path) -> str:
    text = "\n".join((topic, bootstrap, str(Path(data).resolve())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_checkpoint_path(index_root: Path, topic: str, bootstrap: str, data: Path) -> Path:
    return Path(index_root) / ".replay" / f"checkpoint-{checkpoint_key(topic, bootstrap, data)}.json"


class Checkpoint:
    def __init__(self, path: Path, topic: str, bootstrap: str, data: Path) -> None:
        self.path = Path(path)
        self.topic = topic
        self.bootstrap = bootstrap
        self.data = str(Path(data).resolve())
        self.key = checkpoint_key(topic, bootstrap, data)

    def load(self) -> CheckpointState | None:
        """The saved state, or None when there is none for this topic, address and data."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.path}: unreadable replay checkpoint ({exc}); remove it to start over") from exc
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            raise UserError(f"{self.path}: not a replay checkpoint of this version; remove it (or pass "
                            "--from-scratch) to start over")
        if raw.get("key") != self.key:
            return None
        try:
            marks = {int(p): PartitionMark(int(m[0]), _opt_int(m[1]), _opt_int(m[2]))
                     for p, m in raw.get("partitions", {}).items()}
            return CheckpointState(done=int(raw["done"]), beyond={int(i) for i in raw.get("beyond", [])},
                                   last_source_id=raw.get("last_source_id"), complete=bool(raw.get("complete")),
                                   intent=int(raw.get("intent", 0)), partitions=marks)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise UserError(f"{self.path}: damaged replay checkpoint ({exc!r}); remove it (or pass "
                            "--from-scratch) to start over") from None

    def save(self, state: CheckpointState) -> None:
        """Replace the file atomically: a crash leaves the old position or the new one, never half."""
        payload = {
            "version": VERSION, "key": self.key, "topic": self.topic, "bootstrap": self.bootstrap,
            "data": self.data, "done": state.done, "beyond": sorted(state.beyond),
            "last_source_id": state.last_source_id, "complete": state.complete, "intent": state.intent,
            "partitions": {str(p): [m.next, m.last_offset, m.last_pos] for p, m in sorted(state.partitions.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(payload, out)
                out.flush()
                # On disk before the rename: after a power cut the rename must not point at an empty file.
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


class CheckpointWriter:
    """Saves checkpoints on a background thread, latest state first: a file rename can cost a millisecond,
    as much as sending a whole observation. `close()` waits until the last state submitted is on disk.

    `wait_for_intent(i)` is the one synchronous part: the sender calls it before handing over alert i when
    the `intent` on disk does not cover i yet (see the module docstring)."""

    def __init__(self, checkpoint: Checkpoint, on_error: Callable[[str], None]) -> None:
        self.checkpoint = checkpoint
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: CheckpointState | None = None
        self._submitted = 0  # states submitted / states saved (or failed): wait_saved() compares them
        self._saved = 0
        self._closed = False
        self._failed = False
        self.saved_intent = 0  # intent of the last save attempted (a failed save is reported, not waited on)
        self.error: BaseException | None = None  # the last save that failed, if any (reported via on_error)
        self._thread = threading.Thread(target=self._loop, name="replay-checkpoint", daemon=True)
        self._thread.start()

    def submit(self, state: CheckpointState) -> None:
        snapshot = state.copy()
        with self._cond:
            self._pending = snapshot  # an older unsaved state is superseded: only the newest matters
            self._submitted += 1
            self._cond.notify_all()

    def wait_saved(self, timeout: float = 5.0) -> bool:
        """Wait (bounded) until the last state submitted is on disk; False if the disk took longer."""
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._saved >= target, timeout=timeout)

    def wait_for_intent(self, position: int) -> None:
        """Block until a saved checkpoint says alerts up to `position` may be handed over."""
        with self._cond:
            while self.saved_intent <= position and not self._closed:
                self._cond.wait(1.0)

    def close(self) -> None:
        """Wait until the last state submitted is saved (or its save failed: see `error`)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                state, self._pending = self._pending, None
                seq = self._submitted
                if state is None:
                    return
            try:
                self.checkpoint.save(state)
            except Exception as exc:  # anything: a dead writer thread would lose every later save
                self.error = exc
                if not self._failed:  # say it once; the replay itself goes on, later saves are still tried
                    self._failed = True
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{exc}"
                    if not isinstance(exc, OSError):
                        reason = f"{type(exc).__name__}: {reason}"
                    self._on_error(f"cannot write the replay checkpoint {self.checkpoint.path}: {reason}; "
                                   "a --resume may repeat or miss alerts")
            with self._cond:
                self.saved_intent = max(self.saved_intent, state.intent)
                self._saved = seq
                self._cond.notify_all()
