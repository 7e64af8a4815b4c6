"""The verified index: a flipped byte anywhere in it is caught by replay's reads and by prepare, which rebuilds."""

from __future__ import annotations

import json
import os
import shutil
import struct
import uuid
from pathlib import Path

import alert_factory as af
import pytest
from conftest import run_cli
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.kafka_config import consumer_config
from elasticc_stream.engine.prepare import AlertIndex, prepare
from elasticc_stream.engine.prepare.checked import read_stamp, stamp, write_stamp
from elasticc_stream.engine.prepare.index import ENTRY, INDEX_NAME, MAGIC_V1, PREFIX, IndexCorrupt, check_payloads
from elasticc_stream.engine.replay.payloads import PayloadReader


def make_batch(folder: Path, n: int) -> Path:
    schema = af.shipped("stream2022")
    folder.mkdir(parents=True)
    for i in range(n):
        record = af.elasticc_record(schema, source_id=9000 + i, object_id=40 + i, mjd=60000.0 + i * 0.01, n_prv=1)
        af.write(folder / f"alert_src{9000 + i}.avro.gz", af.gz(af.container([record], schema)))
    prepare(folder, jobs=1)
    return folder


def regions(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (offset, length) of every region of an index file, from its own prefix and header."""
    data = path.read_bytes()
    _, offset, length, _, _ = PREFIX.unpack(data[:PREFIX.size])
    sections = json.loads(data[offset:offset + length])["sections"]
    out = {"prefix": (0, PREFIX.size), "header": (offset, length)}
    out.update({name: tuple(v[:2]) for name, v in sections.items()})
    return out


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x20
    path.write_bytes(bytes(data))


def caught(root: Path) -> bool:
    """What replay and prepare check: the loaded header, table and names, every payload, the state."""
    try:
        with AlertIndex.load(root) as index:
            index.state()
            return check_payloads(index) is not None
    except UserError:
        return True


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("index") / "batch", 12)


@pytest.fixture
def batch(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "batch"
    shutil.copytree(pristine, copy)
    prepare(copy, jobs=1)  # the copies are new inodes: indexed again, so the index is the copy's own
    return copy


def test_the_regions_cover_every_byte_of_the_file(pristine: Path) -> None:
    spans = sorted(regions(pristine / INDEX_NAME).values())
    pos = 0
    for offset, length in spans:
        assert offset == pos and length > 0
        pos += length
    assert pos == (pristine / INDEX_NAME).stat().st_size


def test_a_flipped_byte_anywhere_is_caught(batch: Path) -> None:
    path = batch / INDEX_NAME
    original = path.read_bytes()
    size = len(original)
    # Every region's first, middle and last byte, and a byte every 97 across the whole file.
    positions = {p for offset, length in regions(path).values() for p in (offset, offset + length // 2,
                                                                        offset + length - 1)}
    positions |= set(range(0, size, 97))
    assert caught(batch) is False
    for p in sorted(positions):
        flip(path, p)
        assert caught(batch), f"flipped byte at {p} of {size} not caught"
        path.write_bytes(original)


@pytest.mark.parametrize("region", ["prefix", "header", "entries", "names"])
def test_a_corrupt_header_table_or_names_stops_loading_and_names_the_region(batch: Path, region: str) -> None:
    offset, length = regions(batch / INDEX_NAME)[region]
    flip(batch / INDEX_NAME, offset + length // 2)
    with pytest.raises(UserError) as info:
        AlertIndex.load(batch)
    text = str(info.value)
    assert "prepare" in text and "rebuilds" in text
    words = {"prefix": "first 32 bytes", "header": "header", "entries": "entry table", "names": "names"}
    assert words[region] in text or "not an elasticc-stream index" in text or "unreadable" in text


def test_a_corrupt_payload_is_never_handed_out_and_names_the_alert(batch: Path) -> None:
    with AlertIndex.load(batch) as index:
        entry = index.entries[5]
    payloads = regions(batch / INDEX_NAME)["payloads"][0]
    flip(batch / INDEX_NAME, payloads + entry.payload_offset + entry.payload_length // 2)
    with AlertIndex.load(batch) as index:
        reader = PayloadReader(index)
        got = []
        with pytest.raises(IndexCorrupt, match=rf"{entry.file} \(diaSourceId {entry.dia_source_id}\)"):
            for i, _ in reader.iter_range(0, len(index.entries)):
                got.append(i)
        assert got == [0, 1, 2, 3, 4]
        with pytest.raises(IndexCorrupt):
            index.payload(index.entries[5])
        assert check_payloads(index) == index.entries[5]


def test_the_stamp_vouches_only_for_the_file_it_was_made_for_and_payloads_are_always_checked(batch: Path) -> None:
    """Loading skips the pass over the entry table and names (194 MB at 1 M alerts) only for an index whose stat
    is the one stamped beside it when every section last matched. Any write changes the stat; a stamp that lies
    skips the table's check, never a payload's."""
    path = batch / INDEX_NAME
    assert read_stamp(path) == stamp(os.stat(path))  # prepare stamps what it publishes
    offset, length = regions(path)["entries"]
    flip(path, offset + length // 2)
    assert read_stamp(path) != stamp(os.stat(path))
    with pytest.raises(IndexCorrupt, match="entry table"):
        AlertIndex.load(batch)
    flip(path, offset + length // 2)  # back as it was, with a new stat: checked in full again, and sound
    with AlertIndex.load(batch) as index:
        entry = index.entries[3]
    flip(path, regions(path)["payloads"][0] + entry.payload_offset + 1)
    write_stamp(path, stamp(os.stat(path)), wait=True)  # a stamp made for the corrupt file
    with AlertIndex.load(batch) as index, pytest.raises(IndexCorrupt, match=f"diaSourceId {entry.dia_source_id}"):
        index.payload(index.entries[3])


@pytest.mark.parametrize("region", ["prefix", "header", "entries", "names", "state", "payloads"])
def test_prepare_rebuilds_a_corrupt_index_exactly_and_says_so(batch: Path, region: str) -> None:
    path = batch / INDEX_NAME
    original = path.read_bytes()
    offset, length = regions(path)[region]
    flip(path, offset + length // 2)
    report = prepare(batch, jobs=1)
    assert report.index_written and report.alerts == 12
    assert any("validated again and the index rebuilt" in note for note in report.notes), report.notes
    assert path.read_bytes() == original
    again = prepare(batch, jobs=1)
    assert not again.index_written and again.reused == 12


def test_an_index_of_the_old_format_is_rebuilt(batch: Path) -> None:
    path = batch / INDEX_NAME
    original = path.read_bytes()
    path.write_bytes(MAGIC_V1 + struct.pack("<Q", 2) + b"{}")
    with pytest.raises(UserError, match="older version"):
        AlertIndex.load(batch)
    report = prepare(batch, jobs=1)
    assert any("older version" in note for note in report.notes)
    assert path.read_bytes() == original


def test_entries_are_fixed_size_records_read_in_blocks(pristine: Path) -> None:
    _, length = regions(pristine / INDEX_NAME)["entries"]
    assert length == 12 * ENTRY.size
    with AlertIndex.load(pristine) as index:
        entries = index.entries
        assert [e.dia_source_id for e in entries] == list(range(9000, 9012))
        assert entries[-1] == entries[11] and entries[2:4] == [entries[2], entries[3]]
        assert all(index.path(e).is_file() and e.source == e.file for e in entries)


@pytest.mark.broker
def test_replay_stops_at_a_corrupt_payload_and_never_sends_it(batch: Path, kafka_bootstrap: str) -> None:
    from confluent_kafka import Consumer

    with AlertIndex.load(batch) as index:
        entry = index.entries[6]
        good = [index.payload(e) for e in index.entries]
    payloads = regions(batch / INDEX_NAME)["payloads"][0]
    flip(batch / INDEX_NAME, payloads + entry.payload_offset + 10)
    topic = f"corrupt-{uuid.uuid4().hex[:8]}"
    done = run_cli("replay", "--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(batch),
                   "--per-obs", "4", "--observations", "-1", "--interval", "0")
    assert done.returncode != 0
    assert entry.file in done.stderr and "do not match their checksum" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    consumer = Consumer(consumer_config(kafka_bootstrap, f"check-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    values = []
    try:
        for _ in range(20):
            values += [m.value() for m in consumer.consume(100, 0.5) if m.error() is None]
            if len(values) >= 4 and _ > 8:
                break
    finally:
        consumer.close()
    assert set(values) <= set(good[:6]) and good[4] in values  # the first observation went out, whole
    assert good[6] not in values


def test_non_ascii_and_undecodable_file_names_come_back_as_written(tmp_path: Path) -> None:
    schema = af.shipped("stream2022")
    folder = tmp_path / "odd"
    folder.mkdir()
    names = ["alert_é_src1.avro.gz", os.fsdecode(b"alert_\xff_src2.avro.gz"), "alert_plain_src3.avro.gz"]
    for i, name in enumerate(names):
        record = af.elasticc_record(schema, source_id=1 + i, object_id=5, mjd=60000.0 + i)
        af.write(folder / name, af.gz(af.container([record], schema)))
    assert prepare(folder, jobs=1).alerts == 3
    with AlertIndex.load(folder) as index:
        assert [e.file for e in index.entries] == names
        assert all(index.path(e).is_file() for e in index.entries)
