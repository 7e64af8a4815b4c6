"""Replay and consume under faults, against real broker processes, each checked with an independent reader.

Every test counts what the topic holds with a plain confluent-kafka consumer (replay_helpers.drain): 0 lost,
0 duplicated. Brokers that are frozen (SIGSTOP), killed or restarted are the tests' own, never the session's.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import alert_factory as af
import pytest
from conftest import CLI, run_cli
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import AlertIndex
from elasticc_stream.engine.replay import events as ev
from elasticc_stream.engine.replay.runner import Replayer
from replay_helpers import (
    Recorder,
    config_for,
    drain,
    exactly_once,
    make_batch,
    own_broker,
    source_ids,
    start_replay,
    stop_own_broker,
    wait_for_line,
)

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def batch40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("faults") / "gathered40", 40)


@pytest.fixture(scope="module")
def batch800(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("faults") / "gathered800", 800)


# -- exactly once across crashes --------------------------------------------------------------------------

@pytest.mark.timeout(400)
def test_replay_sigkilled_at_ten_random_moments_then_resume_sends_each_alert_once(kafka_bootstrap: str, topic: str,
                                                                                  batch800: Path):
    rng = random.Random(20261202)  # seeded: the same ten moments on every run
    args = ["--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(batch800), "--per-obs", "10",
            "--observations", "-1", "--interval", "0.03", "--partitions", "3"]
    killed_while_sending = 0
    for round_ in range(10):
        proc = start_replay(*args, *(["--resume"] if round_ else []))
        try:
            wait_for_line(proc, "t0:")
            # Any moment of the sending: inside an observation, between two, while reports are awaited.
            time.sleep(rng.uniform(0.0, 0.25))
            killed_while_sending += proc.poll() is None
            proc.kill()
        finally:
            proc.communicate(timeout=60)
    assert killed_while_sending >= 8  # the moments fell inside the replays, not after them
    final = run_cli("replay", *args, "--resume")
    assert final.returncode == 0, final.stderr
    assert "alerts were already delivered" in final.stdout
    exactly_once(kafka_bootstrap, topic, batch800)


@pytest.mark.timeout(240)
def test_lost_topic_is_never_silently_resumed(tmp_path: Path, batch40: Path):
    address, pid, state = own_broker(tmp_path)
    port = address.rsplit(":", 1)[1]
    args = ["--bootstrap", address, "--topic", "lost", "--data", str(batch40), "--per-obs", "10",
            "--observations", "-1", "--interval", "0"]
    try:
        replayer: Replayer

        def stop_after_two(event: object) -> None:
            if isinstance(event, ev.ObservationDelivered) and event.number == 2:
                replayer.stop()

        replayer = Replayer(config_for(address, "lost", batch40, per_obs=10, observations=-1), stop_after_two)
        assert replayer.run().delivered == 20
        # The embedded broker keeps nothing across a restart: the same address now has no topic at all.
        stop_own_broker(pid, state)
        restarted = run_cli("broker", "start", "--port", port, "--dir", str(state), "--embedded", timeout=60)
        assert restarted.returncode == 0, restarted.stderr
        pid = int((state / "broker.pid").read_text().split()[0])
        refused = run_cli("replay", *args, "--resume")
        assert refused.returncode == 1
        errors = refused.stderr.strip().splitlines()
        assert len(errors) == 1, refused.stderr
        assert "topic lost at" in errors[0] and "no longer exists" in errors[0] and "20 alerts" in errors[0]
        assert "--from-scratch" in errors[0] and "t0:" not in refused.stdout
        again = run_cli("replay", *args, "--resume", "--from-scratch")
        assert again.returncode == 0, again.stderr
        assert "Total alert to be sent: 40" in again.stdout
        exactly_once(address, "lost", batch40)
    finally:
        stop_own_broker(pid, state)


@pytest.mark.timeout(240)
def test_recreated_topic_is_never_silently_resumed(kafka_bootstrap: str, topic: str, batch40: Path):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient
    from elasticc_stream.engine.topics import ensure_topic

    args = ["--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(batch40), "--per-obs", "10",
            "--observations", "-1", "--interval", "0"]
    replayer: Replayer

    def stop_after_one(event: object) -> None:
        if isinstance(event, ev.ObservationDelivered):
            replayer.stop()

    replayer = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=10, observations=-1), stop_after_one)
    assert replayer.run().delivered == 10
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    ensure_topic(kafka_bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(12):  # as many messages as before, and more: only their content tells the topics apart
        producer.produce(topic, f"someone else's message {i}".encode())
    assert producer.flush(30) == 0
    refused = run_cli("replay", *args, "--resume")
    assert refused.returncode == 1
    errors = refused.stderr.strip().splitlines()
    assert len(errors) == 1 and "lost or recreated" in errors[0] and "10 alerts" in errors[0], refused.stderr
    assert "t0:" not in refused.stdout


# -- frozen broker, failed deliveries, abandoning, dead address ---------------------------------------------

def test_broker_frozen_mid_replay_exactly_once(tmp_path: Path):
    data = make_batch(tmp_path / "stall", 300)
    address, pid, state = own_broker(tmp_path)
    try:
        rec = Recorder()
        frozen = threading.Event()

        def on_event(event: object) -> None:
            rec(event)
            if isinstance(event, ev.ObservationDelivered) and event.number == 2 and not frozen.is_set():
                frozen.set()
                os.kill(pid, signal.SIGSTOP)  # the next observations meet a broker that does not answer
                threading.Timer(6.0, os.kill, (pid, signal.SIGCONT)).start()

        # Short request timeouts make librdkafka re-send during the freeze: only idempotence prevents duplicates.
        config = config_for(address, "stall", data, per_obs=20, observations=-1, interval=0.3, partitions=2,
                            kafka={"request.timeout.ms": "2000", "socket.timeout.ms": "2000"})
        finished = Replayer(config, on_event).run()
        assert frozen.is_set()
        assert (finished.sent, finished.delivered, finished.failed, finished.interrupted) == (300, 300, 0, False)
        messages = drain(address, "stall", 300, quiet_s=4.0)
        ids = Counter(source_ids(messages))
        assert len(messages) == 300 and set(ids.values()) == {1}
        assert set(ids) == {e.dia_source_id for e in AlertIndex.load(data).entries}
    finally:
        stop_own_broker(pid, state)


def test_failed_deliveries_are_reported(tmp_path: Path):
    data = make_batch(tmp_path / "fail", 40)
    address, pid, state = own_broker(tmp_path)
    try:
        rec = Recorder()

        def on_event(event: object) -> None:
            rec(event)
            if isinstance(event, ev.ObservationDelivered) and event.number == 1:
                os.kill(pid, signal.SIGSTOP)  # gone for longer than message.timeout.ms

        # A pause between observations, so the second one is sent only after the broker is frozen (with no
        # pause it can be on the wire, and confirmed, before SIGSTOP lands).
        config = config_for(address, "fail", data, per_obs=10, observations=-1, interval=1.0,
                            kafka={"message.timeout.ms": "3000", "request.timeout.ms": "2000"})
        finished = Replayer(config, on_event).run()
    finally:
        stop_own_broker(pid, state)
    assert finished.delivered == 10 and finished.failed == 10 and finished.sent == 20
    failed = rec.of(ev.AlertFailed)
    assert len(failed) == 10 and all(f.file.startswith("alert_") or "/" in f.file for f in failed)
    assert finished.failed_files == [f.file for f in failed]
    assert finished.interrupted  # the broker is gone: the run stops instead of failing every alert slowly


def test_abandon_with_a_frozen_broker_returns_and_counts_nothing_undelivered(tmp_path: Path):
    # A tiny producer queue: with the broker frozen, produce() meets a full queue (BufferError) at once.
    data = make_batch(tmp_path / "abandon", 200)
    address, pid, state = own_broker(tmp_path)
    try:
        rec = Recorder()
        replayer: Replayer

        def on_event(event: object) -> None:
            rec(event)
            if isinstance(event, ev.ObservationDelivered) and event.number == 1:
                os.kill(pid, signal.SIGSTOP)
                # The default message.timeout.ms (300 s) would outlast the test's timeout: only abandoning ends it.
                threading.Timer(1.5, replayer.stop, kwargs={"abandon_after": 1.0}).start()

        config = config_for(address, "abandon", data, per_obs=100, observations=-1,
                            kafka={"queue.buffering.max.messages": "10"})
        replayer = Replayer(config, on_event)
        finished = replayer.run()
        assert finished.interrupted and finished.delivered == 100
        assert finished.failed >= 1 and finished.sent == finished.delivered + finished.failed
        failed = rec.of(ev.AlertFailed)
        assert len(failed) == finished.failed and all("abandoned" in f.reason for f in failed)
        assert any("giving up" in n.text for n in rec.of(ev.Note))

        os.kill(pid, signal.SIGCONT)
        # The checkpoint covers the delivered alerts only; the resume reads back those the broker wrote after
        # they were abandoned in flight, and sends only the others: every alert exactly once.
        second = Recorder()
        resumed = Replayer(config_for(address, "abandon", data, per_obs=100, observations=-1, resume=True),
                           second).run()
        assert resumed.sent == resumed.delivered and resumed.failed == 0 and 0 < resumed.sent <= 100
        found = 100 - resumed.sent
        if found:
            assert any(f"{found} of them found in the topic" in n for n in second.of(ev.ReplayPlanned)[0].notes)
        index = AlertIndex.load(data)
        messages = drain(address, "abandon", 200)
        ids = Counter(source_ids(messages))
        assert len(messages) == 200 and set(ids.values()) == {1}
        assert set(ids) == {e.dia_source_id for e in index.entries}
    finally:
        stop_own_broker(pid, state)


def test_abandon_without_anything_pending_is_a_plain_stop(kafka_bootstrap: str, topic: str, batch40: Path):
    replayer: Replayer

    def on_event(event: object) -> None:
        if isinstance(event, ev.ObservationDelivered):
            replayer.abandon()

    replayer = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=10, observations=-1), on_event)
    finished = replayer.run()
    assert (finished.sent, finished.delivered, finished.failed, finished.interrupted) == (10, 10, 0, True)


def test_dead_address_checked_before_the_external_schema(batch40: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    import socket

    other = tmp_path / "ztf.avsc"  # no alert fits it: the schema check would fail if it came first
    other.write_text(json.dumps(af.ZTF_SCHEMA))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loaded: list[AlertIndex] = []
    real_load = AlertIndex.load.__func__

    def load(cls: type, path: object) -> AlertIndex:
        loaded.append(real_load(cls, path))
        return loaded[-1]

    monkeypatch.setattr(AlertIndex, "load", classmethod(load))
    with pytest.raises(UserError, match=f"^cannot reach Kafka at 127.0.0.1:{port}: Connection refused$"):
        Replayer(config_for(f"127.0.0.1:{port}", "nowhere", batch40, schema=other), Recorder()).run()
    assert len(loaded) == 1 and loaded[0]._fd is None  # the index is closed even when the run never starts


def test_dead_address_fails_fast_and_clearly(batch40: Path):

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = Recorder()
    with pytest.raises(UserError) as info:
        Replayer(config_for(f"127.0.0.1:{port}", "nowhere", batch40), rec).run()
    # Refused is known at once (librdkafka says so after 0 ms): no 15 s wait, the client's reason in one line.
    assert str(info.value) == f"cannot reach Kafka at 127.0.0.1:{port}: Connection refused"
    assert "\n" not in str(info.value)
    assert not rec.of(ev.ReplayStarted)


# -- faults said clearly and fast -------------------------------------------------------------------------

@pytest.mark.timeout(400)
@pytest.mark.parametrize("kind", ["tansu", "kafka"])
def test_broker_frozen_during_replay_and_consume_save_stall_reported_each_offset_once(tmp_path: Path, kind: str):
    """SIGSTOP of the broker for 12 s while a replay sends and `consume --save` reads the same topic."""
    data = make_batch(tmp_path / "stall", 300)
    address, pid, state = own_broker(tmp_path, kind)
    saved = tmp_path / "saved"
    try:
        from elasticc_stream.engine.topics import ensure_topic

        ensure_topic(address, "stall", 2)
        consumer = subprocess.Popen(
            [*CLI, "consume", "--bootstrap", address, "--topic", "stall", "--group", "stall-save", "--save",
             str(saved), "--max", "300", "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rec = Recorder()
        frozen_at: list[float] = []

        def on_event(event: object) -> None:
            rec(event)
            if isinstance(event, ev.ObservationDelivered) and event.number == 4 and not frozen_at:
                frozen_at.append(time.monotonic())
                os.kill(pid, signal.SIGSTOP)  # the replay's next observation and the consumer meet a frozen broker
                threading.Timer(12.0, os.kill, (pid, signal.SIGCONT)).start()

        time.sleep(3)  # the consumer's group join
        interval = 0.5
        config = config_for(address, "stall", data, per_obs=20, observations=-1, interval=interval, partitions=2)
        finished = Replayer(config, on_event).run()
        assert (finished.sent, finished.delivered, finished.failed, finished.interrupted) == (300, 300, 0, False)
        notes = [n.text for n in rec.of(ev.Note)]
        assert any(re.search(rf"broker at {address} not answering for 1\d s", n) for n in notes), notes
        assert any("answering again after" in n for n in notes), notes
        # In step afterwards: the observations keep their spacing, shifted by the stall, never sent back to back.
        starts = [e.offset_s for e in rec.of(ev.ObservationStarted)]
        assert all(b - a >= interval - 0.01 for a, b in zip(starts, starts[1:], strict=False)), starts
        assert starts[-1] >= 14 * interval + 10  # the stall moved the schedule

        out, err = consumer.communicate(timeout=120)
        assert consumer.returncode == 0, err
        offsets = Counter(re.findall(r" (stall\[\d\]@\d+)$", out, re.M))
        assert len(offsets) == 300 and set(offsets.values()) == {1}, err  # each offset printed once
        assert "summary: 300 alerts" in err + out
        assert len(list(saved.iterdir())) == 300
        exactly_once(address, "stall", data)
    finally:
        stop_own_broker(pid, state)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("kind", ["tansu", "kafka"])
def test_broker_killed_mid_replay_ends_within_the_timeout_with_one_line(tmp_path: Path, batch800: Path, kind: str):
    address, pid, state = own_broker(tmp_path, kind)
    try:
        proc = start_replay("--bootstrap", address, "--topic", "killed", "--data", str(batch800), "--per-obs", "20",
                            "--observations", "-1", "--interval", "0.3", "--broker-timeout", "5")
        lines = wait_for_line(proc, "Observation 2 done")
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        out, err = proc.communicate(timeout=60)  # within the broker timeout, far from librdkafka's 300 s
        elapsed = time.monotonic() - started
        lines += out.splitlines()
        assert proc.returncode != 0 and "Traceback" not in err
        gave_up = [line for line in lines if "has not answered for 5 s" in line]
        assert len(gave_up) == 1 and "alerts delivered in this run" in gave_up[0], lines
        assert not [line for line in lines if "answering again" in line], lines
        assert len(err.splitlines()) <= 2 and "Not delivered" not in err, err  # no line per alert, no retry noise
        assert elapsed < 5 + 20, elapsed
        assert lines[-1].startswith("Interrupted after observation")
    finally:
        stop_own_broker(pid, state)


def test_second_replay_of_one_job_is_refused(kafka_bootstrap: str, topic: str, batch40: Path):
    args = ["--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(batch40), "--per-obs", "10",
            "--observations", "-1", "--interval", "30"]
    first = start_replay(*args)
    try:
        wait_for_line(first, "Observation 1 done")
        second = run_cli("replay", *args, "--resume")
        assert second.returncode == 1
        errors = second.stderr.strip().splitlines()
        assert len(errors) == 1 and f"another replay of this job (same topic, address and data) is running, pid " \
            f"{first.pid}" in errors[0], second.stderr
        assert "t0:" not in second.stdout
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    # Once the first has ended, the job is free again: the resume sends the rest, each alert once.
    rest = run_cli("replay", *args, "--interval", "0", "--resume")
    assert rest.returncode == 0, rest.stderr
    exactly_once(kafka_bootstrap, topic, batch40)
