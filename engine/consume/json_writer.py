"""`consume --json` into a pipe or a file: the JSON text made and written by a second process.

Encoding an alert as JSON costs about as much as decoding it (1.3 ms against 1.4 ms for an 8 KB ELAsTiCC alert,
most of it the repr of ~2,400 floats), so on one core `--json` ran at half the rate of a bare consume loop. The
consuming process still decodes (it must: repeats, --save and the summary need the alert), then hands each
document over pickled (0.07 ms); the writer process encodes it and writes the line to the same standard output.
Lines keep their order (one writer, one pipe).

Offsets: before the stream stores offsets it asks `settle(wait=False)` what is written so far, and nothing from
the first alert still in flight in a partition is stored; before a commit (a rebalance, the end) it waits for
all (`wait=True`). So nothing is committed that is not on the output, and neither process waits for the other
in between. A reader gone (`| head -3`: EPIPE in the writer) is reported back with the first alert not written
in each partition, which the caller holds uncommitted.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field

from ..errors import UserError

_FRAME = struct.Struct("<I")
_SETTLE = 0  # a frame of length 0: answer for every document before it


@dataclass
class Settled:
    broken: bool = False  # the output was closed by its reader
    unwritten: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> first offset
    # The first alert per partition sent but not yet known written: nothing from it on may be committed yet.
    in_flight: dict[tuple[str, int], int] = field(default_factory=dict)


class JsonLineWriter:
    """The parent's side: `send` a document, `settle` to learn what is written (or wait for all), `close`."""

    def __init__(self) -> None:
        answers, answer_fd = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "elasticc_stream.engine.consume.json_writer", str(answer_fd)],
            stdin=subprocess.PIPE, stdout=sys.stdout.fileno(), pass_fds=(answer_fd,))
        os.close(answer_fd)
        self._answers = os.fdopen(answers, "rb", buffering=0)
        self._unconfirmed: deque[tuple[str, int, int]] = deque()  # sent, in order, not yet answered for
        self._unmarked = 0  # sent since the last settle request
        self._asked = 0  # settle requests not answered yet
        self.written = 0  # lines the writer has answered for as written

    def send(self, topic: str, partition: int, offset: int, document: dict) -> None:
        data = pickle.dumps((topic, partition, offset, document), protocol=pickle.HIGHEST_PROTOCOL)
        self._write(_FRAME.pack(len(data)) + data)
        self._unconfirmed.append((topic, partition, offset))
        self._unmarked += 1

    def settle(self, *, wait: bool) -> Settled:
        """What is known written: everything sent if `wait`, else what the writer has answered for so far
        (without waiting: consuming goes on while the writer writes). UserError if the writer died."""
        if self._unmarked:
            self._write(_FRAME.pack(_SETTLE))
            self._proc.stdin.flush()
            self._unmarked, self._asked = 0, self._asked + 1
        settled = Settled()
        while self._asked and (wait or select.select([self._answers], [], [], 0)[0]):
            done, broken, unwritten, count = self._answer()
            self._asked -= 1
            for _ in range(done):
                self._unconfirmed.popleft()
            settled.broken |= broken
            for key, offset in unwritten.items():
                settled.unwritten.setdefault(key, offset)
            self.written += done - count
        for topic, partition, offset in self._unconfirmed:
            settled.in_flight.setdefault((topic, partition), offset)
        return settled

    def close(self) -> Settled:
        settled = self.settle(wait=True)
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait()
        self._answers.close()
        return settled

    def _answer(self) -> tuple:
        head = self._read(_FRAME.size)
        (size,) = _FRAME.unpack(head)
        return pickle.loads(self._read(size))

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._answers.read(size - len(data))
            if not chunk:
                raise self._ended()
            data += chunk
        return data

    def _write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, ValueError):
            raise self._ended() from None

    def _ended(self) -> UserError:
        return UserError(f"the --json writer process ended (exit status {self._proc.wait()}): the alerts after "
                         "the last one written are not committed")


def _serve(answer_fd: int) -> int:
    """The writer process: frames in on stdin, JSON lines out on stdout, answers to each settle request."""
    from .jsonl import dumps

    # Ctrl-C reaches the whole process group: the consumer stops gently and closes our input, which ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source, out = sys.stdin.buffer, sys.stdout.buffer
    answers = os.fdopen(answer_fd, "wb")
    broken, done, unwritten, count = False, 0, {}, 0  # since the last settle request
    while True:
        head = source.read(_FRAME.size)
        if len(head) < _FRAME.size:
            break
        (size,) = _FRAME.unpack(head)
        if size == _SETTLE:
            # Plain values: this module runs as __main__ here, so its classes would not unpickle by name there.
            data = pickle.dumps((done, broken, unwritten, count))
            answers.write(_FRAME.pack(len(data)) + data)
            answers.flush()
            done, unwritten, count = 0, {}, 0
            continue
        topic, partition, offset, document = pickle.loads(source.read(size))
        done += 1
        if not broken:
            try:
                out.write(dumps(document).encode() + b"\n")
                out.flush()  # a line at a time: a reader sees each alert as it arrives, and EPIPE names its alert
                continue
            except BrokenPipeError:
                broken = True
        unwritten.setdefault((topic, partition), offset)
        count += 1
    # stdout may be a closed pipe: point it at /dev/null so the interpreter's own flush at exit stays quiet.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(_serve(int(sys.argv[1])))
