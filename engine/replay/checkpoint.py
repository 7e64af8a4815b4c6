"""Where an interrupted replay got to, so `--resume` sends each alert once.

The position is a count of alerts, in index order, that all have a successful delivery report,
plus the few delivered beyond a gap (an alert that failed or was not handed over before a stop).
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

from elasticc_stream.engine.errors import UserError

VERSION = 1


@dataclass
class CheckpointState:
    done: int = 0                              # alerts [0, done) delivered
    beyond: set[int] = field(default_factory=set)  # delivered indexes >= done
    last_source_id: int | None = None          # diaSourceId of alert done-1: detects a changed index
    complete: bool = False


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
            raise UserError(f"{self.path}: not a replay checkpoint of this version; remove it to start over")
        if raw.get("key") != self.key:
            return None
        return CheckpointState(done=int(raw["done"]), beyond={int(i) for i in raw.get("beyond", [])},
                               last_source_id=raw.get("last_source_id"), complete=bool(raw.get("complete")))

    def save(self, state: CheckpointState) -> None:
        """Replace the file atomically: a crash leaves the old position or the new one, never half."""
        payload = {
            "version": VERSION, "key": self.key, "topic": self.topic, "bootstrap": self.bootstrap,
            "data": self.data, "done": state.done, "beyond": sorted(state.beyond),
            "last_source_id": state.last_source_id, "complete": state.complete,
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


class CheckpointWriter:
    """Saves checkpoints on a background thread, latest state first: a file rename can cost a millisecond,
    as much as sending a whole observation. `close()` waits until the last state submitted is on disk."""

    def __init__(self, checkpoint: Checkpoint, on_error: Callable[[str], None]) -> None:
        self.checkpoint = checkpoint
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: CheckpointState | None = None
        self._submitted = 0  # states submitted / states saved (or failed): wait_saved() compares them
        self._saved = 0
        self._closed = False
        self._failed = False
        self.error: BaseException | None = None  # the last save that failed, if any (reported via on_error)
        self._thread = threading.Thread(target=self._loop, name="replay-checkpoint", daemon=True)
        self._thread.start()

    def submit(self, state: CheckpointState) -> None:
        snapshot = CheckpointState(state.done, set(state.beyond), state.last_source_id, state.complete)
        with self._cond:
            self._pending = snapshot  # an older unsaved state is superseded: only the newest matters
            self._submitted += 1
            self._cond.notify_all()

    def wait_saved(self, timeout: float = 5.0) -> bool:
        """Wait (bounded) until the last state submitted is on disk; False if the disk took longer."""
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._saved >= target, timeout=timeout)

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
                    self._on_error(f"cannot write the replay checkpoint {self.checkpoint.path}: {reason}")
            with self._cond:
                self._saved = seq
                self._cond.notify_all()
