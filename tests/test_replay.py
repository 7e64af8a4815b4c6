"""Replay against a real broker: the reference stream, exactly-once under faults, resume, schemas, bad input."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
from collections import Counter, defaultdict
from pathlib import Path

import alert_factory as af
import pytest
from conftest import CLI, run_cli
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import AlertIndex, prepare
from elasticc_stream.engine.replay import events as ev
from elasticc_stream.engine.replay.runner import Replayer
from elasticc_stream.engine.wire.partition import partition_for
from replay_helpers import V0_9_1, Recorder, config_for, drain, make_batch, source_ids, topic_exists

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def batch40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("replay") / "gathered40", 40)


# -- the reference note's small stream -------------------------------------------------------------------------

def test_reference_small_stream_lines(kafka_bootstrap: str, topic: str, batch40: Path, tmp_path: Path):
    conf = tmp_path / "fink_alert_simulator_elasticc.conf"
    conf.write_text(
        "# as in the reference note\n"
        f'KAFKA_IPPORT="{kafka_bootstrap}"\n'
        f'KAFKA_TOPIC="{topic}"\n'
        f"FINK_DATA_SIM={batch40}\n"
        "DISPLAY_FIELD=diaSource,midPointTai\n"
        "NALERTS_PER_OBS=5\n"
        "NOBSERVATIONS=3\n"
        "TIME_INTERVAL=1\n"
    )
    done = run_cli("replay", "-c", str(conf), timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Reading custom configuration file from {conf}"
    assert f"Total alert available ({batch40}): 40" in lines
    assert "Total alert to be sent: 15" in lines
    start = lines.index("Total alert to be sent: 15") + 1
    assert re.fullmatch(r"t0: \d+\.\d+", lines[start])
    body = lines[start + 1: start + 10]
    offsets, ranges = [], []
    for k in range(3):
        started, sent, finished = body[3 * k: 3 * k + 3]
        m = re.fullmatch(r"Observation start: t0 \+ : (\d+\.\d\d) seconds", started)
        assert m, started
        offsets.append(float(m.group(1)))
        m = re.fullmatch(r"5 alerts sent \((\d+\.\d+) to (\d+\.\d+)\)", sent)
        assert m, sent
        ranges.append((float(m.group(1)), float(m.group(2))))
        assert finished == f"Observation {k + 1} done..."
    assert re.fullmatch(r"Summary: 15 sent, 15 delivered, 0 failed in [\d.]+ s \([\d.]+ alerts/s\)", lines[-1])
    # Ranges in time order: earliest first, and each observation continues where the previous one ended.
    flat = [t for pair in ranges for t in pair]
    assert flat == sorted(flat)
    index = AlertIndex.load(batch40)
    assert ranges[0][0] == index.entries[0].mid_point_tai and ranges[2][1] == index.entries[14].mid_point_tai
    # The schedule is absolute (t0 + k * interval): each start is checked against its own slot, never early
    # and late by a generous margin (a slow observation shortens the next gap, it does not shift the schedule).
    assert all(k - 0.05 <= offset <= k + 2.0 for k, offset in enumerate(offsets)), offsets
    messages = drain(kafka_bootstrap, topic, 15)
    assert sorted(source_ids(messages)) == sorted(e.dia_source_id for e in index.entries[:15])


def test_printer_lines_without_display_field():
    out, err = io.StringIO(), io.StringIO()
    from elasticc_stream.cli.replay import ReplayPrinter

    printer = ReplayPrinter(out, err)
    printer(ev.ReplayPlanned("/data", 7, 7, 5, 2, 1.0, "t", "h:1", 1, "None", ["a note"]))
    printer(ev.ReplayStarted(12.5))
    printer(ev.ObservationStarted(1, 0.004, 5))
    printer(ev.ObservationDelivered(1, 5, None, None, 0.1, 5, 7))
    printer(ev.ObservationStarted(2, 1.0, 2))
    printer(ev.AlertFailed("gathered/a.avro.gz", "Local: Message timed out"))
    printer(ev.ObservationDelivered(2, 1, None, None, 1.1, 6, 7))
    printer(ev.ReplayFinished(7, 6, 1, ["gathered/a.avro.gz"], 2, 1.5, False))
    assert out.getvalue().splitlines() == [
        "a note", "Kafka: h:1, topic t", "Total alert available (/data): 7", "Total alert to be sent: 7",
        "t0: 12.5", "Observation start: t0 + : 0.00 seconds", "5 alerts sent", "Observation 1 done...",
        "Observation start: t0 + : 1.00 seconds", "1 alerts sent", "Observation 2 done...",
        "Summary: 7 sent, 6 delivered, 1 failed in 1.50 s (4.0 alerts/s)",
    ]
    assert err.getvalue().splitlines() == [
        "Not delivered: gathered/a.avro.gz: Local: Message timed out", "1 alerts were not delivered:",
        "  gathered/a.avro.gz"]


# -- every alert, several partitions -----------------------------------------------------------------------------

def test_all_alerts_three_partitions_exactly_once_in_time_order(kafka_bootstrap: str, topic: str, batch40: Path):
    rec = Recorder()
    finished = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=7, observations=-1, partitions=3),
                        rec).run()
    assert (finished.sent, finished.delivered, finished.failed, finished.interrupted) == (40, 40, 0, False)
    delivered = rec.of(ev.ObservationDelivered)
    assert [d.count for d in delivered] == [7, 7, 7, 7, 7, 5]
    assert delivered[-1].delivered_total == 40 and delivered[-1].to_send == 40
    messages = drain(kafka_bootstrap, topic, 40)
    index = AlertIndex.load(batch40)
    assert Counter(source_ids(messages)) == Counter(e.dia_source_id for e in index.entries)
    assert {m.partition() for m in messages} == {0, 1, 2}
    by_partition: dict[int, list] = defaultdict(list)
    for m in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        alert = decode(m.value(), key=m.key())[0]
        record = alert.record
        # The default key is the writer schema (Fink's convention); the partition comes from the object.
        assert alert.schema_label == "key"
        assert m.partition() == partition_for(record["diaObject"]["diaObjectId"], 3)
        by_partition[m.partition()].append((record["diaSource"]["midPointTai"], record["diaSource"]["diaSourceId"]))
    for rows in by_partition.values():
        assert [t for t, _ in rows] == sorted(t for t, _ in rows)


def test_visits_keys_and_display_from_the_record(kafka_bootstrap: str, topic: str, batch40: Path):
    rec = Recorder()
    finished = Replayer(config_for(kafka_bootstrap, topic, batch40, by_visit=True, observations=3, key="schema",
                                   display_field="diaSource,psFlux"), rec).run()
    assert finished.delivered == 12
    assert [o.size for o in rec.of(ev.ObservationStarted)] == [4, 4, 4]
    assert all(isinstance(d.first, float) for d in rec.of(ev.ObservationDelivered))
    messages = drain(kafka_bootstrap, topic, 12)
    index = AlertIndex.load(batch40)
    schema = index.schema(index.entries[0].schema_fp)
    for m in messages:
        alert = decode(m.value(), key=m.key())[0]
        assert alert.schema_label == "key" and alert.schema == schema


def test_unknown_display_field_stops_before_sending(kafka_bootstrap: str, topic: str, batch40: Path):
    with pytest.raises(UserError, match="DISPLAY_FIELD 'diaSource,nothing'"):
        Replayer(config_for(kafka_bootstrap, topic, batch40, display_field="diaSource,nothing"), Recorder()).run()


# -- faults (more in test_replay_faults.py) --------------------------------------------------------------------


@pytest.mark.timeout(240)


@pytest.mark.timeout(60)


@pytest.mark.timeout(60)


def test_secrets_never_printed(kafka_bootstrap: str, topic: str, batch40: Path):
    done = run_cli("replay", "--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(batch40),
                   "-X", "sasl.password=hunter2-secret", "-X", "no.such.property=hunter2-secret")
    assert done.returncode == 1
    assert "hunter2" not in done.stdout + done.stderr
    assert done.stderr.startswith("elasticc-stream replay: error: cannot configure the Kafka producer")


@pytest.mark.timeout(120)


@pytest.mark.timeout(120)


def test_consume_and_replay_read_a_conf_by_the_same_rule(kafka_bootstrap: str, topic: str, batch40: Path,
                                                         tmp_path: Path):
    # KAFKA_IPPORT cannot be evaluated (unset variable) but --bootstrap replaces it: both commands accept the file.
    conf = tmp_path / "unset.conf"
    conf.write_text('KAFKA_IPPORT="localhost:${ELASTICC_TEST_UNSET_PORT}"\n'
                    f"KAFKA_TOPIC={topic}\nFINK_DATA_SIM={batch40}\nNALERTS_PER_OBS=5\nNOBSERVATIONS=1\n"
                    "TIME_INTERVAL=0\n")
    assert "ELASTICC_TEST_UNSET_PORT" not in os.environ
    replayed = run_cli("replay", "-c", str(conf), "--bootstrap", kafka_bootstrap)
    assert replayed.returncode == 0, replayed.stderr
    consumed = run_cli("consume", "-c", str(conf), "--bootstrap", kafka_bootstrap, "--max", "5", "--timeout", "60")
    assert consumed.returncode == 0, consumed.stderr
    # Without the flag, both name the line that cannot be evaluated.
    for command in ("replay", "consume"):
        done = run_cli(command, "-c", str(conf))
        assert done.returncode == 1
        assert f"{conf}:1: variable ELASTICC_TEST_UNSET_PORT is not set" in done.stderr, done.stderr


# -- resume --------------------------------------------------------------------------------------------------

def test_resume_after_interrupt_sends_each_alert_once(kafka_bootstrap: str, topic: str, batch40: Path):
    first_run = Recorder()
    replayer: Replayer

    def stop_after_first(event: object) -> None:
        first_run(event)
        if isinstance(event, ev.ObservationDelivered):
            replayer.stop()

    replayer = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=6, observations=-1, interval=0.2),
                        stop_after_first)
    finished = replayer.run()
    assert finished.interrupted and finished.delivered == 6

    second_run = Recorder()
    resumed = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=6, observations=-1, interval=0.2,
                                  resume=True), second_run).run()
    assert (resumed.sent, resumed.delivered, resumed.interrupted) == (34, 34, False)
    assert [o.number for o in second_run.of(ev.ObservationStarted)] == [2, 3, 4, 5, 6, 7]
    assert any("6 alerts were already delivered" in n for n in second_run.of(ev.ReplayPlanned)[0].notes)

    again = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=6, observations=-1, resume=True),
                     Recorder()).run()
    assert again.sent == 0

    messages = drain(kafka_bootstrap, topic, 40)
    ids = Counter(source_ids(messages))
    assert len(messages) == 40 and set(ids.values()) == {1}


def test_stop_inside_an_observation_then_resume(kafka_bootstrap: str, topic: str, batch40: Path):
    replayer: Replayer
    seen = Recorder()

    def on_event(event: object) -> None:
        seen(event)
        if isinstance(event, ev.ObservationStarted) and event.number == 2:
            replayer.stop()  # before any alert of observation 2 is handed over

    replayer = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=10, observations=-1), on_event)
    assert replayer.run().delivered == 10
    rest = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=10, observations=-1, resume=True),
                    Recorder()).run()
    assert rest.delivered == 30
    assert len(drain(kafka_bootstrap, topic, 40)) == 40


def test_pause_and_resume(kafka_bootstrap: str, topic: str, batch40: Path):
    replayer: Replayer
    states: list[bool] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.ObservationDelivered) and event.number == 1:
            replayer.pause()
            states.append(replayer.paused)
            threading.Timer(0.5, replayer.resume).start()

    replayer = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=20, observations=-1), on_event)
    finished = replayer.run()
    assert states == [True] and not replayer.paused
    assert finished.delivered == 40


@pytest.mark.timeout(120)
def test_ctrl_c_stops_cleanly_then_resume_from_the_command_line(kafka_bootstrap: str, topic: str, batch40: Path):
    import subprocess

    args = ["replay", "--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(batch40), "--per-obs", "8",
            "--observations", "-1", "--interval", "5"]
    # SIGINT must arrive before observation 2 starts: a long interval leaves the time (and costs none:
    # stopping interrupts the wait).
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Observation 1 done"):
            proc.send_signal(signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=60)
    lines += rest.splitlines()
    assert proc.returncode == 130, err
    assert "Observation 2 done..." not in lines
    assert re.fullmatch(r"Summary: 8 sent, 8 delivered, 0 failed in [\d.]+ s \([\d.]+ alerts/s\)", lines[-2])
    assert lines[-1] == ("Interrupted after observation 1: 8 of 40 alerts delivered in this run; "
                         "run again with --resume to continue")
    assert "Traceback" not in err

    resumed = run_cli(*args, "--interval", "0", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "Total alert to be sent: 32" in resumed.stdout
    # At once (--interval 0 now, not the 5 s of the first run); to the hundredth, a loaded machine may show 0.01.
    assert re.search(r"^Observation start: t0 \+ : 0\.0\d seconds$", resumed.stdout, re.M), resumed.stdout
    assert "Observation 2 done..." in resumed.stdout and "Observation 1 done..." not in resumed.stdout
    messages = drain(kafka_bootstrap, topic, 40)
    assert len(messages) == 40 and set(Counter(source_ids(messages)).values()) == {1}


def test_unprepared_folder_is_prepared_first(kafka_bootstrap: str, topic: str, tmp_path: Path):
    data = make_batch(tmp_path / "raw", 12, prepared=False)
    rec = Recorder()
    finished = Replayer(config_for(kafka_bootstrap, topic, data, per_obs=12, observations=1), rec).run()
    assert finished.delivered == 12
    assert any("not prepared yet: preparing it first" in n.text for n in rec.of(ev.Note))
    report = prepare(data)  # the checkpoint kept beside the index does not disturb a later prepare
    assert report.alerts == 12 and not report.errors


# -- schemas --------------------------------------------------------------------------------------------------

def test_schemaless_2023_format_with_external_schema(kafka_bootstrap: str, topic: str, tmp_path: Path):
    data = make_batch(tmp_path / "s2023", 20, fmt="schemaless")
    conf = tmp_path / "s.conf"
    conf.write_text(f"KAFKA_IPPORT={kafka_bootstrap}\nKAFKA_TOPIC={topic}\nFINK_DATA_SIM={data}\n"
                    f"NALERTS_PER_OBS=10\nNOBSERVATIONS=-1\nTIME_INTERVAL=0\nEXTERNAL_SCHEMA={V0_9_1}\n")
    done = run_cli("replay", "-c", str(conf), "--key", "none")
    assert done.returncode == 0, done.stderr
    assert "Total alert to be sent: 20" in done.stdout
    from elasticc_stream.engine.decoder import load_schema_file

    schema = load_schema_file(V0_9_1)
    messages = drain(kafka_bootstrap, topic, 20)
    assert all(m.key() is None for m in messages)
    assert len(set(source_ids(messages, schema))) == 20


def test_external_schema_reencodes_2022_alerts(kafka_bootstrap: str, topic: str, batch40: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    from elasticc_stream.engine.decoder import load_schema_file

    decoded: list[int] = []
    real_record = AlertIndex.record

    def record(self: AlertIndex, entry: object) -> dict:
        decoded.append(entry.dia_source_id)  # type: ignore[attr-defined]
        return real_record(self, entry)

    monkeypatch.setattr(AlertIndex, "record", record)
    finished = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=20, observations=-1, schema=V0_9_1),
                        Recorder()).run()
    assert finished.delivered == 40
    assert sorted(Counter(decoded).values()) == [1] * 40  # each alert decoded once: the check's bytes are sent
    schema = load_schema_file(V0_9_1)
    messages = drain(kafka_bootstrap, topic, 40)
    assert sorted(source_ids(messages, schema)) == sorted(e.dia_source_id for e in AlertIndex.load(batch40).entries)


def test_alert_not_fitting_external_schema_stops_before_sending(kafka_bootstrap: str, topic: str, batch40: Path,
                                                                tmp_path: Path):
    import json

    other = tmp_path / "ztf.avsc"
    other.write_text(json.dumps(af.ZTF_SCHEMA))
    with pytest.raises(UserError) as info:
        Replayer(config_for(kafka_bootstrap, topic, batch40, schema=other), Recorder()).run()
    text = str(info.value)
    assert f"does not fit EXTERNAL_SCHEMA {other}" in text and str(batch40) in text and "\n" not in text
    assert not topic_exists(kafka_bootstrap, topic)  # stopped before even creating the topic


# -- bad configuration ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("NALERTS_PER_OBS=0", "NALERTS_PER_OBS must be >= 1"),
        ("TIME_INTERVAL=soon", "TIME_INTERVAL must be a number"),
        ('KAFKA_TOPIC="oops', "unterminated double quote"),
        ("FINK_DATA_SIM=${NOT_SET_ANYWHERE}/x", "variable NOT_SET_ANYWHERE is not set"),
    ],
)
def test_bad_conf_line_reported_and_nothing_sent(kafka_bootstrap: str, topic: str, batch40: Path, tmp_path: Path,
                                                 bad_line: str, message: str):
    conf = tmp_path / "bad.conf"
    conf.write_text(f"KAFKA_IPPORT={kafka_bootstrap}\nKAFKA_TOPIC={topic}\nFINK_DATA_SIM={batch40}\n"
                    f"NOBSERVATIONS=2\n# the next line is wrong\n{bad_line}\n")
    done = run_cli("replay", "-c", str(conf))
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1
    assert errors[0].startswith(f"elasticc-stream replay: error: {conf}:6: ")
    assert message in errors[0]
    assert "t0:" not in done.stdout
    assert not topic_exists(kafka_bootstrap, topic)
