"""consume --save when the disk refuses writes: a line per alert, no partial file, nothing committed past it.

The disk is made to refuse through the consume process's own file-size limit (RLIMIT_FSIZE: a write past it
fails with EFBIG, the same path through the saver as ENOSPC on a full disk), so no filesystem has to be filled.
"""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import CLI
from test_consume import consume, produce, schemaless

pytestmark = pytest.mark.broker


def _small_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


def test_save_on_a_disk_that_refuses_writes(kafka_bootstrap: str, make_topic, tmp_path: Path) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(900 + i) for i in range(5)])
    saved = tmp_path / "saved"
    group = f"full-{topic}"
    refused = subprocess.run([*CLI, "consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group,
                              "--save", str(saved), "--timeout", "20"], capture_output=True, text=True, timeout=120,
                             preexec_fn=_small_files)
    not_saved = [line for line in refused.stderr.splitlines() if line.startswith("not saved:")]
    assert len(not_saved) == 5 and all("File too large" in line for line in not_saved), refused.stderr
    assert "5 not saved" in refused.stderr and "Traceback" not in refused.stderr
    assert not [p for p in saved.iterdir() if p.stat().st_size]  # no partial alert file left behind
    # Nothing was committed for the alert that could not be saved: the group's next run saves all five.
    again = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group, "--save", str(saved),
                    "--timeout", "5")
    assert again.returncode == 0, again.stderr
    assert "saved: 5 files" in again.stderr
