"""open_replay: the Kafka clients opened, and the topic's creation asked for, before the runner is even imported.

Against a real broker: the early creation must give the same topic and the same stream as a creation asked for
after the metadata, leave an existing topic as it is, and never create a topic for a run that expects one
(resume) or that may still fail on its alerts (EXTERNAL_SCHEMA, a folder not prepared).
"""

from __future__ import annotations

import json
from pathlib import Path

import alert_factory as af
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.replay import events as ev
from elasticc_stream.engine.replay import open_replay
from elasticc_stream.engine.replay.startup import creates_early
from replay_helpers import V0_9_1, Recorder, config_for, drain, make_batch, source_ids, topic_exists

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def batch30(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("start") / "gathered30", 30)


def _partitions(bootstrap: str, topic: str) -> int:
    return len(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics[topic].partitions)


def test_topic_created_early_holds_every_alert_once(kafka_bootstrap: str, topic: str, batch30: Path) -> None:
    config = config_for(kafka_bootstrap, topic, batch30, per_obs=10, observations=-1, partitions=3)
    assert creates_early(config.validated())
    rec = Recorder()
    replayer = open_replay(config, rec)
    assert replayer._link is not None and replayer._link.creating is not None  # asked for before run()
    finished = replayer.run()
    assert (finished.delivered, finished.failed) == (30, 0)
    assert _partitions(kafka_bootstrap, topic) == 3
    assert not any("exists with" in n for n in rec.of(ev.ReplayPlanned)[0].notes)
    ids = source_ids(drain(kafka_bootstrap, topic, 30))
    assert len(ids) == len(set(ids)) == 30


def test_existing_topic_is_used_as_it_is(kafka_bootstrap: str, topic: str, batch30: Path) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=-1)])[topic].result(30)
    rec = Recorder()
    finished = open_replay(config_for(kafka_bootstrap, topic, batch30, per_obs=30, partitions=5), rec).run()
    assert (finished.delivered, finished.failed) == (30, 0)
    assert _partitions(kafka_bootstrap, topic) == 2
    planned = rec.of(ev.ReplayPlanned)[0]
    assert f"topic {topic} exists with 2 partitions (asked for 5); using it as it is" in planned.notes


def test_no_early_creation_for_a_resume_a_schema_or_an_unprepared_folder(tmp_path: Path, batch30: Path) -> None:
    base = config_for("127.0.0.1:9092", "t", batch30)
    assert creates_early(base.validated())
    assert not creates_early(config_for("127.0.0.1:9092", "t", batch30, resume=True).validated())
    assert not creates_early(config_for("127.0.0.1:9092", "t", batch30, schema=V0_9_1).validated())
    raw = make_batch(tmp_path / "raw", 4, prepared=False)
    assert not creates_early(config_for("127.0.0.1:9092", "t", raw).validated())


def test_a_start_that_fails_on_an_alert_leaves_no_topic(kafka_bootstrap: str, topic: str, batch30: Path,
                                                         tmp_path: Path) -> None:
    """EXTERNAL_SCHEMA that the alerts do not fit: the run stops before sending, and (no early creation with a
    schema) the topic was never made."""
    other = tmp_path / "other.avsc"
    other.write_text(json.dumps(af.ZTF_SCHEMA))
    with pytest.raises(UserError, match="does not fit EXTERNAL_SCHEMA"):
        open_replay(config_for(kafka_bootstrap, topic, batch30, schema=other), Recorder()).run()
    assert not topic_exists(kafka_bootstrap, topic)
