"""One replay per job at a time: an exclusive lock beside the checkpoint.

The lock is a separate file because the checkpoint itself is replaced by rename (a lock on it would be on
the old inode). `flock` is released by the kernel when the process dies, so a SIGKILLed replay never leaves
a stale lock behind; the pid written into the file only serves the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import UserError


class JobLock:
    def __init__(self, checkpoint_path: Path) -> None:
        self.path = Path(checkpoint_path).with_name(Path(checkpoint_path).name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise UserError naming the replay that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise UserError(f"another replay of this job (same topic, address and data) is running, pid {holder}: "
                            f"its checkpoint is locked ({self.path}); wait for it or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the flock
