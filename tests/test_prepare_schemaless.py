"""prepare of schemaless (2023) alerts: found by a shipped schema, or decoded with the one given."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import alert_factory as af
import pytest
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import prepare
from prepare_batches import index_of, two_night_batch, write_tar


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return two_night_batch(tmp_path)


# --- the schemaless (2023) format ----------------------------------------------------------------------------


def _custom_schema() -> dict:
    """v0_9_1 with one extra field: no shipped schema reads its messages exactly."""
    schema = json.loads(json.dumps(af.shipped("elasticc.v0_9_1")))
    schema["fields"].append({"name": "brokerNote", "type": "string", "default": ""})
    return schema


def _schemaless_batch(root: Path, schema: dict) -> list[tuple[str, bytes]]:
    members = []
    for i in range(4):
        record = af.elasticc_record(schema, source_id=7000 + i, mjd=60100.25 + i / 10)
        if any(f["name"] == "brokerNote" for f in schema["fields"]):
            record["brokerNote"] = "x" * i
        members.append((f"NITE7/alert_src{7000 + i}.avro.gz", gzip.compress(af.schemaless(record, schema))))
    write_tar(root / "NITE7.tar.gz", members)
    return members


def test_schemaless_alerts_of_a_shipped_schema_need_no_schema(tmp_path: Path) -> None:
    root = tmp_path / "ALERTS"
    _schemaless_batch(root, af.shipped("elasticc.v0_9_1"))
    report = prepare(root, jobs=1)
    assert report.alerts == 4 and report.bad_alerts == []
    index = index_of(root)
    assert index.record(index.entries[0])["diaSource"]["diaSourceId"] == 7000


def test_schemaless_alerts_need_the_given_schema(tmp_path: Path) -> None:
    schema = _custom_schema()
    avsc = tmp_path / "custom.avsc"
    avsc.write_text(json.dumps(schema))
    without = tmp_path / "without"
    _schemaless_batch(without, schema)
    report = prepare(without, jobs=1)
    assert report.alerts == 0 and len(report.bad_alerts) == 4
    assert all("no shipped schema decodes it exactly" in e.reason for e in report.errors)

    assert any("--schema" in note for note in report.notes)
    again = prepare(without, schema=avsc, jobs=1)  # another schema: the archive gets unpacked again
    assert again.alerts == 4 and again.unpacked == 1 and again.bad_alerts == []

    given = tmp_path / "given"
    members = _schemaless_batch(given, schema)
    report = prepare(given, schema=avsc, jobs=1)
    assert report.alerts == 4 and report.bad_alerts == []
    index = index_of(given)
    assert [e.dia_source_id for e in index.entries] == [7000, 7001, 7002, 7003]
    assert index.payload(index.entries[3]) == gzip.decompress(members[3][1])
    assert index.record(index.entries[3])["brokerNote"] == "xxx"

    wrong = tmp_path / "wrong"
    _schemaless_batch(wrong, schema)
    wrong_avsc = Path(af.REAL_ALERT).parents[1] / "schemas" / "v0_9" / "elasticc.v0_9.alert.avsc"
    report = prepare(wrong, schema=wrong_avsc, jobs=1)
    assert report.alerts == 0 and len(report.bad_alerts) == 4
    assert all("schema does not decode it exactly" in e.reason for e in report.errors)
    assert len(list((wrong / "bad").iterdir())) == 4


def test_a_schema_file_that_does_not_parse_is_a_user_error(batch: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.avsc"
    bad.write_text('{"type": "record", "name": "x", "fields": [{"name": "a", "type": "nosuch"}]}')
    with pytest.raises(UserError):
        prepare(batch, schema=bad)
    with pytest.raises(UserError, match="no such folder"):
        prepare(tmp_path / "missing")
    assert not (batch / "NITE1").exists()
