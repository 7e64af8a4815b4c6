"""Replay configuration (reference `.conf` and our TOML), planning and checkpoints: pure, no broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from elasticc_stream.engine.config.settings import load_kafka_settings
from elasticc_stream.engine.config.shell_conf import parse_shell_conf
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.replay.checkpoint import Checkpoint, CheckpointState
from elasticc_stream.engine.replay.config import ReplayConfig, load_replay_config
from elasticc_stream.engine.replay.plan import plan_replay, remaining

REPO = Path(__file__).resolve().parents[1]

# The reference simulator's own file (fink-alert-simulator conf/), values as the reference note sets them.
REFERENCE_CONF = """\
######################################
# Kafka producer stream configuration

# Local mode (Kafka cluster is spun up on-the-fly in docker).
KAFKA_PORT_SIM=29092
KAFKA_IPPORT_SIM="localhost:${KAFKA_PORT_SIM}"

# Cluster mode - you would a Kafka cluster installed with write mode.
KAFKA_IPPORT=""

# Topic name for the producer
KAFKA_TOPIC="ztf-stream-sim"

# Where the data for sims is
FINK_DATA_SIM=${FINK_ALERT_SIMULATOR}/datasim

# Which alert field to display on the screen to follow the stream progression
DISPLAY_FIELD=diaSource,midPointTai

# Number of alerts to send simultaneously per observations.
NALERTS_PER_OBS=5

# Number of observations to make.
NOBSERVATIONS=3

# Time between 2 observations (second)
TIME_INTERVAL=1
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "datasim"
    d.mkdir()
    return d


# -- .conf parser --------------------------------------------------------------------------------------

def test_shell_quotes_comments_export_and_expansion():
    text = (
        "# comment\n"
        "\n"
        "A=plain   # trailing comment\n"
        "B='single $A # not a comment'\n"
        'C="double ${A} and $A/x"\n'
        "export D=exported\n"
        "E=${UNSET_IN_FILE:-fallback}\n"
        "F=${HOME_LIKE}/sub\n"
        "G=\n"
        "H=a#b\n"
    )
    conf = parse_shell_conf(text, "f.conf", env={"HOME_LIKE": "/home/x"})
    assert conf.get("A") == "plain"
    assert conf.get("B") == "single $A # not a comment"
    assert conf.get("C") == "double plain and plain/x"
    assert conf.get("D") == "exported"
    assert conf.get("E") == "fallback"
    assert conf.get("F") == "/home/x/sub"
    assert conf.get("G") == ""
    assert conf.get("H") == "a#b"
    assert conf.values["C"].line == 5


def test_earlier_lines_win_over_environment():
    conf = parse_shell_conf("X=file\nY=$X\n", "f.conf", env={"X": "env"})
    assert conf.get("Y") == "file"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("KAFKA_TOPIC = x", "no spaces allowed around '='"),
        ('KAFKA_TOPIC="unterminated', "unterminated double quote"),
        ("KAFKA_TOPIC='unterminated", "unterminated single quote"),
        ("KAFKA_TOPIC=a b", "unexpected text after the value"),
        ("KAFKA_TOPIC=$(hostname)", "command substitution is not supported"),
        ("KAFKA_TOPIC=`hostname`", "unsupported shell syntax"),
        ("just some words", "expected KEY=value"),
        ("KAFKA_TOPIC=${BAD-", "missing '}'"),
    ],
)
def test_malformed_lines_name_file_and_line(line: str, message: str):
    with pytest.raises(UserError) as info:
        parse_shell_conf(f"# header\nA=1\n{line}\n", "bad.conf", env={})
    text = str(info.value)
    assert text.startswith("bad.conf:3: ")
    assert message in text
    assert "\n" not in text


def test_unset_variable_is_an_error_naming_the_line_when_used(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "ref.conf", REFERENCE_CONF)
    with pytest.raises(UserError) as info:
        load_replay_config(conf, {"bootstrap": "127.0.0.1:9092"}, env={})
    assert str(info.value).startswith(f"{conf}:15: variable FINK_ALERT_SIMULATOR is not set")
    # Given on the command line, the unusable line no longer matters.
    config = load_replay_config(conf, {"bootstrap": "127.0.0.1:9092", "data": str(data_dir)}, env={})
    assert config.data == data_dir


def test_reference_file_as_is(tmp_path: Path):
    (tmp_path / "sim" / "datasim").mkdir(parents=True)
    conf = write(tmp_path / "ref.conf", REFERENCE_CONF)
    config = load_replay_config(conf, {"bootstrap": "localhost:29092"},
                                env={"FINK_ALERT_SIMULATOR": str(tmp_path / "sim")})
    assert config.bootstrap == "localhost:29092"
    assert config.topic == "ztf-stream-sim"
    assert config.data == tmp_path / "sim" / "datasim"
    assert (config.per_obs, config.observations, config.interval) == (5, 3, 1.0)
    assert config.display_field == "diaSource,midPointTai"
    assert config.partitions == 1 and config.schema is None and config.key == "schema"
    assert config.notes == []  # KAFKA_PORT_SIM / KAFKA_IPPORT_SIM are known helper variables


def test_empty_kafka_ipport_needs_a_flag(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "ref.conf", f'KAFKA_IPPORT=""\nKAFKA_TOPIC=t\nFINK_DATA_SIM={data_dir}\n')
    with pytest.raises(UserError, match="no Kafka address: set KAFKA_IPPORT in the file or pass --bootstrap"):
        load_replay_config(conf)


def test_flags_override_file(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "a.conf", f"KAFKA_IPPORT=h:1\nKAFKA_TOPIC=t\nFINK_DATA_SIM={data_dir}\n"
                                      "NALERTS_PER_OBS=5\nTIME_INTERVAL=2\nEXTERNAL_SCHEMA=None\nNPARTITIONS=2\n")
    config = load_replay_config(conf, {"per_obs": "7", "interval": "0.25", "topic": "other", "partitions": None})
    assert (config.per_obs, config.interval, config.topic, config.partitions) == (7, 0.25, "other", 2)
    assert config.bootstrap == "h:1"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("NALERTS_PER_OBS=0", "NALERTS_PER_OBS must be >= 1, got 0"),
        ("NALERTS_PER_OBS=five", "NALERTS_PER_OBS must be an integer"),
        ("NOBSERVATIONS=0", "NOBSERVATIONS must be -1 or >= 1, got 0"),
        ("NOBSERVATIONS=-2", "NOBSERVATIONS must be -1 or >= 1"),
        ("TIME_INTERVAL=-1", "TIME_INTERVAL must be a finite number >= 0"),
        ("TIME_INTERVAL=soon", "TIME_INTERVAL must be a number"),
        ("NPARTITIONS=0", "NPARTITIONS must be >= 1"),
        ("KAFKA_IPPORT=localhost", "KAFKA_IPPORT must be host:port"),
        ("KAFKA_IPPORT=localhost:99999", "KAFKA_IPPORT must be host:port"),
        ("KAFKA_TOPIC='bad topic'", "is not a valid Kafka topic name"),
        ("EXTERNAL_SCHEMA=/no/such/schema.avsc", "EXTERNAL_SCHEMA /no/such/schema.avsc does not exist"),
    ],
)
def test_bad_values_name_file_and_line(tmp_path: Path, data_dir: Path, line: str, message: str):
    conf = write(tmp_path / "bad.conf", f"KAFKA_IPPORT=h:1\nKAFKA_TOPIC=t\nFINK_DATA_SIM={data_dir}\n{line}\n")
    with pytest.raises(UserError) as info:
        load_replay_config(conf)
    assert str(info.value).startswith(f"{conf}:4: ")
    assert message in str(info.value)


def test_bad_flag_values_name_the_flag(data_dir: Path):
    base = {"bootstrap": "h:1", "topic": "t", "data": str(data_dir)}
    with pytest.raises(UserError, match=r"^--per-obs: --per-obs must be >= 1"):
        load_replay_config(None, {**base, "per_obs": "0"})
    with pytest.raises(UserError, match=r"^--speed: --speed must be a finite number > 0"):
        load_replay_config(None, {**base, "speed": "0"})
    with pytest.raises(UserError, match=r"^--data /nope does not exist$"):
        load_replay_config(None, {**base, "data": "/nope"})


def test_unknown_keys_become_notes(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "a.conf", f"KAFKA_IPPORT=h:1\nKAFKA_TOPIC=t\nFINK_DATA_SIM={data_dir}\nMYSTERY=1\n")
    config = load_replay_config(conf)
    assert config.notes == [f"ignored key MYSTERY at {conf}:4"]


def test_toml_keys_and_kafka_table(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "a.toml", f"""
bootstrap = "broker:9093"
topic = "elasticc"
data = "{data_dir}"
per_obs = 10
observations = -1
interval = 0.5
key = "schema"
by_visit = true

[kafka]
"security.protocol" = "SASL_SSL"
"sasl.password" = "s3cret"
"message.timeout.ms" = 60000
""")
    config = load_replay_config(conf, {"kafka": {"sasl.username": "me"}})
    assert (config.bootstrap, config.topic, config.per_obs, config.observations) == ("broker:9093", "elasticc", 10, -1)
    assert (config.interval, config.key, config.by_visit) == (0.5, "schema", True)
    assert config.kafka == {"security.protocol": "SASL_SSL", "sasl.password": "s3cret",
                            "message.timeout.ms": "60000", "sasl.username": "me"}
    assert config.notes == []


def test_toml_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "a.toml", f'bootstrap = "h:1"\ntopic = "t"\ndata = "{data_dir}"\nper_ob = 3\n')
    with pytest.raises(UserError, match=rf"^{conf}:4: unknown key 'per_ob': did you mean per_obs\?$"):
        load_replay_config(conf)
    conf = write(tmp_path / "b.toml", f'bootstrap = "h:1"\ntopic = "t"\ndata = "{data_dir}"\nzzz = 3\n')
    with pytest.raises(UserError, match=r"unknown key 'zzz' \(known keys: bootstrap, topic"):
        load_replay_config(conf)


def test_conf_typo_is_a_warning_with_a_suggestion_not_an_error(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "a.conf", f"KAFKA_IPPORT=h:1\nKAFKA_TOPIC=t\nFINK_DATA_SIM={data_dir}\n"
                                      "NALERT_PER_OBS=3\nMYSTERY=1\n")
    config = load_replay_config(conf)
    assert config.per_obs != 3  # not read: the typo does not silently count
    assert config.notes == [f"warning: {conf}:4: unknown key NALERT_PER_OBS is ignored: did you mean NALERTS_PER_OBS?",
                            f"ignored key MYSTERY at {conf}:5"]


def test_toml_errors_name_line(tmp_path: Path, data_dir: Path):
    conf = write(tmp_path / "a.toml", f'bootstrap = "h:1"\ntopic = "t"\ndata = "{data_dir}"\nper_obs = 0\n')
    with pytest.raises(UserError, match=rf"^{conf}:4: per_obs must be >= 1"):
        load_replay_config(conf)
    broken = write(tmp_path / "b.toml", 'bootstrap = "h:1"\ntopic = \n')
    with pytest.raises(UserError, match=rf"^{broken}:2: "):
        load_replay_config(broken)


def test_non_utf8_byte_names_file_and_line(tmp_path: Path, data_dir: Path):
    conf = tmp_path / "latin1.conf"
    conf.write_bytes(b'KAFKA_IPPORT="h:1"\nKAFKA_TOPIC=t\n# caf\xe9\nFINK_DATA_SIM=' + str(data_dir).encode() + b"\n")
    with pytest.raises(UserError, match=rf"^{conf}:3: not UTF-8 text \(byte 0xe9 at column 6\)"):
        load_replay_config(conf)
    toml = tmp_path / "latin1.toml"
    toml.write_bytes(b'bootstrap = "h:1"\ntopic = "\xff"\n')
    with pytest.raises(UserError, match=rf"^{toml}:2: not UTF-8 text \(byte 0xff at column 10\)"):
        load_kafka_settings(toml)


def test_load_kafka_settings_both_formats(tmp_path: Path):
    toml = write(tmp_path / "a.toml", 'bootstrap = "h:1"\ntopic = "t"\n[kafka]\n"sasl.username" = "u"\n')
    assert load_kafka_settings(toml) == ("h:1", "t", {"sasl.username": "u"})
    conf = write(tmp_path / "a.conf", 'KAFKA_IPPORT="h:2"\nKAFKA_TOPIC=t2\nNALERTS_PER_OBS=oops\n')
    assert load_kafka_settings(conf) == ("h:2", "t2", {})


def test_kafka_settings_skip_what_a_flag_replaces(tmp_path: Path, data_dir: Path):
    # Same rule as replay -c: a value that a flag replaces is not evaluated (nor checked).
    conf = write(tmp_path / "a.conf", f'KAFKA_IPPORT="localhost:${{KAFKA_PORT}}"\nKAFKA_TOPIC="bad topic"\n'
                                      f"FINK_DATA_SIM={data_dir}\n")
    with pytest.raises(UserError, match=rf"^{conf}:1: variable KAFKA_PORT is not set"):
        load_kafka_settings(conf, env={})
    with pytest.raises(UserError, match=rf"^{conf}:2: KAFKA_TOPIC 'bad topic' is not a valid"):
        load_kafka_settings(conf, {"bootstrap"}, env={})
    assert load_kafka_settings(conf, {"bootstrap", "topic"}, env={}) == (None, None, {})
    replay = load_replay_config(conf, {"bootstrap": "h:1", "topic": "t"}, env={})
    assert (replay.bootstrap, replay.topic) == ("h:1", "t")
    toml = write(tmp_path / "a.toml", f'bootstrap = "no port"\ntopic = "t"\ndata = "{data_dir}"\n')
    with pytest.raises(UserError, match=rf"^{toml}:1: bootstrap must be host:port"):
        load_kafka_settings(toml)
    assert load_kafka_settings(toml, {"bootstrap"}) == (None, "t", {})
    assert load_replay_config(toml, {"bootstrap": "h:2"}).bootstrap == "h:2"


def test_validated_converts_values_built_in_code(data_dir: Path):
    config = ReplayConfig(" h:1 ", "t", str(data_dir), per_obs="5", observations="-1",  # type: ignore[arg-type]
                          interval="0.5", partitions="2", key="Schema", speed="2",  # type: ignore[arg-type]
                          schema=str(data_dir)).validated()  # type: ignore[arg-type]
    assert (config.bootstrap, config.per_obs, config.observations, config.interval, config.partitions) == (
        "h:1", 5, -1, 0.5, 2)
    assert (config.key, config.speed, config.data, config.schema) == ("schema", 2.0, data_dir, data_dir)
    with pytest.raises(UserError, match="interval must be a number"):
        ReplayConfig("h:1", "t", data_dir, interval="soon").validated()  # type: ignore[arg-type]


def test_checkpoint_writer_survives_any_error(tmp_path: Path, data_dir: Path):
    import threading

    from elasticc_stream.engine.replay.checkpoint import CheckpointWriter

    tried = threading.Event()

    class Flaky(Checkpoint):
        def save(self, state: CheckpointState) -> None:
            try:
                if state.done == 1:
                    raise TypeError("not serialisable")
                super().save(state)
            finally:
                tried.set()

    ck = Flaky(tmp_path / "c.json", "t", "h:1", data_dir)
    problems: list[str] = []
    writer = CheckpointWriter(ck, problems.append)
    writer.submit(CheckpointState(done=1))
    assert tried.wait(10)
    writer.submit(CheckpointState(done=2))
    writer.close()
    assert len(problems) == 1 and "TypeError: not serialisable" in problems[0]
    assert isinstance(writer.error, TypeError)
    state = ck.load()
    assert state is not None and state.done == 2  # a later checkpoint is still written


def test_shipped_examples_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO)
    for name in ("elasticc_replay.conf", "elasticc_replay.toml"):
        path = REPO / "conf" / name
        bootstrap, topic, _ = load_kafka_settings(path)
        assert bootstrap and topic


def test_validated_rejects_bad_config_built_in_code(data_dir: Path):
    with pytest.raises(UserError, match="key must be one of"):
        ReplayConfig("h:1", "t", data_dir, key="random").validated()


# -- planning ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class E:
    mid_point_tai: float


def entries(times: list[float]) -> list[E]:
    return [E(t) for t in times]


def test_plan_observations_of_n():
    plan = plan_replay(entries([float(i) for i in range(15)]), per_obs=5, observations=3, interval=1.0)
    assert [(o.number, o.start, o.stop, o.offset_s) for o in plan.observations] == [
        (1, 0, 5, 0.0), (2, 5, 10, 1.0), (3, 10, 15, 2.0)]
    assert plan.to_send == 15 and plan.available == 15 and plan.notes == ()


def test_plan_all_with_partial_last():
    plan = plan_replay(entries([0.0] * 12), per_obs=5, observations=-1, interval=0.5)
    assert [o.size for o in plan.observations] == [5, 5, 2]
    assert [o.offset_s for o in plan.observations] == [0.0, 0.5, 1.0]
    assert "All 12 alerts to be sent" in plan.notes[0]


def test_plan_more_than_available_is_reduced_with_explanation():
    plan = plan_replay(entries([0.0] * 12), per_obs=5, observations=10, interval=1, path="/data")
    assert [o.size for o in plan.observations] == [5, 5, 2]
    assert plan.to_send == 12
    assert "You ask for more data than you have!" in plan.notes[0]
    assert "(/data): 12" in plan.notes[0] and "50 alerts required" in plan.notes[0]
    assert "reduced the number of observations to 3" in plan.notes[0]


def test_plan_by_visit_and_speed():
    times = [60000.0, 60000.0, 60000.0, 60000.01, 60000.03, 60000.03]
    plan = plan_replay(entries(times), per_obs=1, observations=-1, interval=9, by_visit=True, speed=86.4)
    assert [(o.start, o.stop) for o in plan.observations] == [(0, 3), (3, 4), (4, 6)]
    # gaps of 0.01 and 0.03 day = 864 s and 2592 s, divided by 86.4
    assert [round(o.offset_s, 6) for o in plan.observations] == [0.0, 10.0, 30.0]
    limited = plan_replay(entries(times), per_obs=1, observations=2, interval=2, by_visit=True)
    assert [(o.start, o.stop, o.offset_s) for o in limited.observations] == [(0, 3, 0.0), (3, 4, 2.0)]


def test_remaining_after_resume_keeps_numbers_and_spacing():
    plan = plan_replay(entries([0.0] * 15), per_obs=5, observations=3, interval=1.0)
    left = remaining(plan, 5)
    assert [(o.number, o.start, o.offset_s) for o in left.observations] == [(2, 5, 0.0), (3, 10, 1.0)]
    mid = remaining(plan, 7)  # a stop inside an observation: only its undelivered part is left
    assert [(o.number, o.start, o.stop) for o in mid.observations] == [(2, 7, 10), (3, 10, 15)]
    assert remaining(plan, 15).observations == ()


# -- checkpoint ----------------------------------------------------------------------------------------

def test_checkpoint_round_trip_and_key(tmp_path: Path, data_dir: Path):
    path = tmp_path / "ck" / "c.json"
    ck = Checkpoint(path, "topic", "h:1", data_dir)
    assert ck.load() is None
    ck.save(CheckpointState(done=10, beyond={12, 13}, last_source_id=99))
    state = ck.load()
    assert state is not None and (state.done, state.beyond, state.last_source_id) == (10, {12, 13}, 99)
    assert Checkpoint(path, "other-topic", "h:1", data_dir).load() is None
    assert [p.name for p in path.parent.iterdir()] == ["c.json"]  # no temporary file left behind
    path.write_text("{not json")
    with pytest.raises(UserError, match="unreadable replay checkpoint"):
        ck.load()
