"""prepare: safe unpacking, validation, gathering, the index, incremental runs and the CLI."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import alert_factory as af
import fastavro
import pytest
from elasticc_stream.engine.decoder import decode, read_alert_file
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import AlertIndex, prepare
from elasticc_stream.engine.prepare.index import INDEX_NAME
from elasticc_stream.engine.replay.payloads import PayloadReader

from elasticc_stream.cli import prepare as prepare_cli

# --- batch builders ------------------------------------------------------------------------------------------


def _real() -> tuple[dict, dict]:
    with gzip.open(af.REAL_ALERT, "rb") as f:
        reader = fastavro.reader(f)
        return reader.writer_schema, next(reader)


REAL_SCHEMA, REAL_RECORD = _real()


def real_alert(source_id: int, mjd: float, object_id: int = 747) -> tuple[str, bytes]:
    """The real 2022 alert with a new diaSourceId/midPointTai: gzipped container, embedded schema."""
    record = json.loads(json.dumps(REAL_RECORD))
    record["diaSource"].update(diaSourceId=source_id, midPointTai=mjd, diaObjectId=object_id)
    out = io.BytesIO()
    fastavro.writer(out, REAL_SCHEMA, [record], codec="null")
    return f"alert_mjd{mjd}_obj{object_id}_src{source_id}.avro.gz", gzip.compress(out.getvalue())


def night_members(night: int, count: int, first_id: int = 0) -> list[tuple[str, bytes]]:
    # Times deliberately out of name order, and two alerts sharing a time, to exercise the sort.
    members = []
    for i in range(count):
        sid = first_id + night * 1000 + (count - i)
        mjd = 60000 + night + round(0.1 * ((i * 7) % count // 2), 4)
        name, data = real_alert(sid, mjd)
        members.append((f"NITE{night}/{name}", data))
    return members


def write_tar(path: Path, members: list, *, special: list[tarfile.TarInfo] = ()) -> Path:
    """NITE tarball from (name, bytes) members, plus raw TarInfo members (links, devices...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in special:
            tf.addfile(info)
    return path


def listing(path: Path, *, but: Path | None = None) -> set[str]:
    """Every path under `path` (relative), leaving out the tree under `but`."""
    found = {str(p.relative_to(path)) for p in path.rglob("*")}
    if but is not None:
        inner = str(but.relative_to(path))
        found = {f for f in found if f != inner and not f.startswith(inner + os.sep)}
    return found


def index_of(root: Path) -> AlertIndex:
    return AlertIndex.load(root)


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    root = tmp_path / "ALERTS"
    write_tar(root / "NITE1.tar.gz", night_members(1, 6))
    write_tar(root / "NITE2.tar.gz", night_members(2, 5))
    return root


# --- a good batch --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_good_nights_are_unpacked_gathered_and_indexed(batch: Path, jobs: int) -> None:
    events = []
    report = prepare(batch, jobs=jobs, on_progress=events.append)
    assert (report.alerts, report.nights, report.bad_archives, report.bad_alerts) == (11, 2, [], [])
    assert report.errors == [] and report.validated == 11 and report.reused == 0
    assert (batch / "NITE1.tar.gz").exists() and (batch / "NITE2.tar.gz").exists()
    gathered = sorted(p.name for p in (batch / "gathered").iterdir())
    in_nights = sorted(p.name for n in ("NITE1", "NITE2") for p in (batch / n).iterdir())
    assert gathered == in_nights and len(gathered) == 11
    one = next((batch / "NITE1").iterdir())
    assert os.stat(one).st_ino == os.stat(batch / "gathered" / one.name).st_ino  # hard link, no copy
    assert not [p for p in batch.iterdir() if p.name.startswith(".")]
    assert events[0].stage == "planned" and events[-1].stage == "finished"
    assert events[-1].nights_done == 2 and events[-1].alerts_done == 11


def test_index_is_sorted_and_payloads_decode_to_the_files_records(batch: Path) -> None:
    prepare(batch, jobs=1)
    index = AlertIndex.load(batch / "gathered")  # replay may be pointed at gathered/
    assert index.root == batch
    keys = [(e.mid_point_tai, e.dia_source_id) for e in index.entries]
    assert keys == sorted(keys) and len(keys) == 11
    assert len({e.mid_point_tai for e in index.entries}) < 11  # shared times: the id breaks the tie
    for entry in index.entries:
        assert entry.file.startswith("gathered/")
        from_file = read_alert_file(index.path(entry))[0]
        from_payload = decode(index.payload(entry), schema=index.schema(entry.schema_fp))[0]
        assert from_payload.record == from_file.record == index.record(entry)
        assert entry.schema_fp == from_file.fingerprint
        assert entry.dia_source_id == from_file.record["diaSource"]["diaSourceId"]
        assert entry.filter_name == from_file.record["diaSource"]["filterName"]
        assert entry.dia_object_id == 747
    index.close()


def test_locate_and_load_of_an_unprepared_folder(tmp_path: Path) -> None:
    assert AlertIndex.locate(tmp_path) is None
    with pytest.raises(UserError, match="elasticc-stream prepare"):
        AlertIndex.load(tmp_path)


# --- bad archives --------------------------------------------------------------------------------------------


def test_truncated_archive_is_moved_to_bad_and_its_output_removed(batch: Path) -> None:
    good = write_tar(batch / "tmp" / "NITE3.tar.gz", night_members(3, 40))
    data = good.read_bytes()
    (batch / "NITE3.tar.gz").write_bytes(data[: len(data) * 2 // 3])
    good.unlink()
    (batch / "tmp").rmdir()
    report = prepare(batch, jobs=2)
    assert report.bad_archives == ["NITE3.tar.gz"]
    assert [e.file for e in report.errors] == ["NITE3.tar.gz"] and "truncated" in report.errors[0].reason
    assert (batch / "bad" / "NITE3.tar.gz").read_bytes() == data[: len(data) * 2 // 3]
    assert not (batch / "NITE3").exists() and not (batch / "NITE3.tar.gz").exists()
    assert not [p for p in batch.iterdir() if p.name.startswith(".elasticc-prepare")]
    assert report.alerts == 11 and report.nights == 2


@pytest.mark.parametrize(
    "content, reason",
    [(b"this is not an archive\n", "gzip"), (gzip.compress(os.urandom(3000)), "tar")],
    ids=["not-gzip", "gzip-of-garbage"],
)
def test_unreadable_archive_is_a_bad_archive(batch: Path, content: bytes, reason: str) -> None:
    (batch / "NITE9.tar.gz").write_bytes(content)
    report = prepare(batch, jobs=1)
    assert report.bad_archives == ["NITE9.tar.gz"] and reason in report.errors[0].reason
    assert (batch / "bad" / "NITE9.tar.gz").read_bytes() == content
    assert not (batch / "NITE9").exists() and report.alerts == 11


def test_unsafe_members_are_refused_and_nothing_lands_outside(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "ALERTS"
    name, data = real_alert(5, 60005.5)
    special = []
    for kind, member, target in [
        (tarfile.SYMTYPE, "NITE5/link.avro.gz", "/etc/passwd"),
        (tarfile.SYMTYPE, "NITE5/up", "../../.."),
        (tarfile.LNKTYPE, "NITE5/hard.avro.gz", "/etc/passwd"),
        (tarfile.CHRTYPE, "NITE5/null", ""),
        (tarfile.FIFOTYPE, "NITE5/fifo", ""),
    ]:
        info = tarfile.TarInfo(member)
        info.type, info.linkname = kind, target
        special.append(info)
    members = [
        ("../evil.avro.gz", data),
        ("../../evil2.avro.gz", data),
        ("NITE5/../../evil3.avro.gz", data),
        ("/tmp/evil-absolute-prepare-test.avro.gz", data),
        ("NITE6/other-night.avro.gz", data),
        ("gathered/planted.avro.gz", data),
        (f"NITE5/{name}", data),
        ("./NITE5/sub/second.avro.gz", real_alert(6, 60005.6)[1]),
    ]
    write_tar(root / "NITE5.tar.gz", members, special=special)
    outside_before = listing(tmp_path.parent, but=root)
    report = prepare(root, jobs=1)
    assert listing(tmp_path.parent, but=root) == outside_before
    assert not Path("/tmp/evil-absolute-prepare-test.avro.gz").exists()
    refused = {e.file.split(":", 1)[1]: e.reason for e in report.errors}
    assert set(refused) == {m for m, _ in members[:6]} | {i.name for i in special}
    assert "'..'" in refused["../evil.avro.gz"] and "absolute" in refused["/tmp/evil-absolute-prepare-test.avro.gz"]
    assert "outside NITE5/" in refused["NITE6/other-night.avro.gz"]
    assert "link" in refused["NITE5/link.avro.gz"] and "link" in refused["NITE5/hard.avro.gz"]
    assert "device" in refused["NITE5/null"]
    assert report.bad_archives == [] and report.alerts == 2  # the rest of the night is kept
    assert listing(root / "NITE5") == {name, "sub", "sub/second.avro.gz"}
    assert not any(p.is_symlink() for p in root.rglob("*"))
    assert sorted(p.name for p in (root / "gathered").iterdir()) == sorted([name, "second.avro.gz"])


# --- bad alerts and other members ----------------------------------------------------------------------------


def test_bad_alerts_go_to_bad_and_other_files_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "ALERTS"
    good = night_members(4, 3)
    truncated_name, whole = real_alert(4100, 60004.9)
    members = [
        *good,
        (f"NITE4/{truncated_name}", whole[: len(whole) // 2]),
        ("NITE4/alert_garbage.avro.gz", gzip.compress(os.urandom(500))),
        ("NITE4/alert_trailing.avro", gzip.decompress(whole) + b"\x00junk"),
        ("NITE4/README", b"read me\n"),
    ]
    write_tar(root / "NITE4.tar.gz", members)
    report = prepare(root, jobs=1)
    assert report.alerts == 3 and report.bad_archives == []
    assert sorted(report.bad_alerts) == sorted(
        [f"NITE4/{truncated_name}", "NITE4/alert_garbage.avro.gz", "NITE4/alert_trailing.avro"]
    )
    reasons = {e.file: e.reason for e in report.errors}
    assert "truncated gzip" in reasons[f"NITE4/{truncated_name}"]
    assert "moved to bad/NITE4__alert_garbage.avro.gz" in reasons["NITE4/alert_garbage.avro.gz"]
    assert "Avro container" in reasons["NITE4/alert_trailing.avro"]
    assert (root / "bad" / f"NITE4__{truncated_name}").read_bytes() == whole[: len(whole) // 2]
    assert [s.file for s in report.skipped] == ["NITE4/README"]
    assert (root / "NITE4" / "README").read_bytes() == b"read me\n"
    assert sorted(p.name for p in (root / "gathered").iterdir()) == sorted(m.split("/")[1] for m, _ in good)
    assert sorted(p.name for p in (root / "NITE4").iterdir()) == sorted(
        [m.split("/")[1] for m, _ in good] + ["README"]
    )


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


# --- incremental runs ----------------------------------------------------------------------------------------


def test_second_run_reuses_everything_and_gives_the_same_index(batch: Path) -> None:
    (batch / "NITE8.tar.gz").write_bytes(b"broken")
    first = prepare(batch, jobs=2)
    before = (batch / INDEX_NAME).read_bytes()
    entries = index_of(batch).entries
    second = prepare(batch, jobs=2)
    assert (second.alerts, second.nights, second.reused, second.validated) == (11, 2, 11, 0)
    assert second.unpacked == 0 and not second.index_written and second.errors == []
    assert (batch / INDEX_NAME).read_bytes() == before and index_of(batch).entries == entries
    assert first.bad_archives == ["NITE8.tar.gz"]

    # New work only: a new night and one alert rewritten in place.
    write_tar(batch / "NITE3.tar.gz", night_members(3, 4))
    changed = sorted((batch / "NITE1").iterdir())[0]
    _, data = real_alert(999_999, 60001.99)
    changed.unlink()  # a new inode, as an editor or `tar xf` would leave it
    changed.write_bytes(data)
    third = prepare(batch, jobs=2)
    assert (third.alerts, third.nights, third.unpacked, third.validated, third.reused) == (15, 3, 1, 5, 10)
    assert third.index_written
    index = index_of(batch)
    assert 999_999 in {e.dia_source_id for e in index.entries}
    assert (batch / "gathered" / changed.name).read_bytes() == data  # our earlier link was replaced
    fourth = prepare(batch, jobs=1)
    assert (fourth.validated, fourth.reused, fourth.index_written) == (0, 15, False)


def test_existing_different_file_in_gathered_is_not_overwritten(batch: Path) -> None:
    name = night_members(1, 6)[0][0].split("/")[1]
    (batch / "gathered").mkdir()
    (batch / "gathered" / name).write_bytes(b"someone else's file")
    report = prepare(batch, jobs=1)
    assert (batch / "gathered" / name).read_bytes() == b"someone else's file"
    assert [e.file for e in report.errors] == [f"NITE1/{name}"] and "not overwritten" in report.errors[0].reason
    index = index_of(batch)
    assert f"NITE1/{name}" in {e.file for e in index.entries} and report.alerts == 11


def test_loose_folder_is_indexed_in_place(tmp_path: Path) -> None:
    for i in range(5):
        name, data = real_alert(300 + i, 60300.5 - i)
        (tmp_path / name).write_bytes(data if i % 2 else gzip.decompress(data))
        if not i % 2:
            (tmp_path / name).rename(tmp_path / name.removesuffix(".gz"))
    report = prepare(tmp_path, jobs=2)
    assert (report.layout, report.alerts, report.bad_alerts) == ("loose", 5, [])
    assert not (tmp_path / "gathered").exists()
    index = index_of(tmp_path)
    assert [e.dia_source_id for e in index.entries] == [304, 303, 302, 301, 300]
    assert all(index.path(e).exists() for e in index.entries)
    again = prepare(tmp_path)
    assert (again.reused, again.validated) == (5, 0)


def test_empty_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to prepare"):
        prepare(tmp_path)


# --- the command ---------------------------------------------------------------------------------------------


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    prepare_cli.register(sub)
    args = parser.parse_args(["prepare", *argv])
    return args.run(args)


def test_cli_json_output(batch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (batch / "NITE3.tar.gz").write_bytes(b"not gzip")
    assert _cli(str(batch), "--json", "--jobs", "2") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["alerts"] == 11 and out["nights"] == 2 and out["reused"] == 0
    assert out["bad_archives"] == ["NITE3.tar.gz"] and out["bad_alerts"] == []
    assert out["errors"][0]["file"] == "NITE3.tar.gz" and "gzip" in out["errors"][0]["reason"]
    assert {"skipped", "seconds"} <= set(out)
    assert _cli(str(batch)) == 0
    captured = capsys.readouterr()
    assert "11 alerts, 2 nights" in captured.out and "11 reused" in captured.out
    with pytest.raises(UserError, match="no such folder"):
        _cli(str(batch / "nope"))


def test_folder_left_by_the_shell_scripts_is_taken_as_is(batch: Path) -> None:
    # What the reference note's scripts leave: NITE folders unpacked, copies (not links) in gathered/.
    for archive in sorted(batch.glob("NITE*.tar.gz")):
        with tarfile.open(archive) as tf:
            tf.extractall(batch, filter="data")
    (batch / "gathered").mkdir()
    for alert in batch.glob("NITE*/*.avro.gz"):
        (batch / "gathered" / alert.name).write_bytes(alert.read_bytes())
    (batch / "NITE2.tar.gz").unlink()  # a night with only its folder left
    (batch / ".elasticc-prepare-NITE1.partial").mkdir()  # left by an interrupted run
    report = prepare(batch, jobs=2)
    assert (report.alerts, report.nights, report.errors, report.bad_alerts) == (11, 2, [], [])
    assert not (batch / ".elasticc-prepare-NITE1.partial").exists()
    assert {e.file.split("/")[0] for e in index_of(batch).entries} == {"gathered"}


def test_symlinked_night_folder_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    name, data = real_alert(1, 60000.5)
    (elsewhere / name).write_bytes(data[:100])  # would be moved to bad/ if it were followed
    root = tmp_path / "ALERTS"
    write_tar(root / "NITE1.tar.gz", night_members(1, 2))
    (root / "NITE2").symlink_to(elsewhere)
    report = prepare(root, jobs=1)
    assert report.alerts == 2 and [e.file for e in report.errors] == ["NITE2"]
    assert (elsewhere / name).read_bytes() == data[:100]


# --- regressions ---------------------------------------------------------------------------------------------


def test_an_index_loaded_before_a_new_prepare_keeps_reading_its_own_payloads(batch: Path) -> None:
    prepare(batch, jobs=1)
    old = AlertIndex.load(batch)
    expected = [read_alert_file(old.path(e))[0].payload for e in old.entries]
    assert [old.payload(e) for e in old.entries] == expected
    # A night with earlier times: every old alert moves to another offset in the new index file.
    write_tar(batch / "NITE0.tar.gz", night_members(0, 3))
    assert prepare(batch, jobs=1).index_written
    new = AlertIndex.load(batch)
    assert len(new.entries) == 14 and new.entries[3:] != old.entries
    assert os.fstat(old._fd).st_ino != os.stat(batch / INDEX_NAME).st_ino  # replaced, not rewritten in place
    reader = PayloadReader(old)  # made after the replacement, as a replay started late would
    got = list(reader.iter_range(old.entries, 0, len(old.entries)))
    assert [i for i, _ in got] == list(range(11)) and [p for _, p in got] == expected
    assert [old.payload(e) for e in old.entries] == expected
    assert old.read_range(0, sum(len(p) for p in expected)) == b"".join(expected)
    with pytest.raises(UserError, match="cut short"):
        old.read_range(sum(len(p) for p in expected), 1)
    reader.close()
    old.close()
    new.close()


def test_bad_archive_beside_its_unpacked_night_keeps_the_nights_alerts(batch: Path) -> None:
    first = prepare(batch, jobs=1)
    ids = {e.dia_source_id for e in index_of(batch).entries}
    before = listing(batch / "NITE2")
    data = (batch / "NITE2.tar.gz").read_bytes()
    (batch / "NITE2.tar.gz").write_bytes(data[: len(data) // 2])  # replaced by a truncated copy
    second = prepare(batch, jobs=2)
    assert second.bad_archives == ["NITE2.tar.gz"] and "truncated" in second.errors[0].reason
    assert (batch / "bad" / "NITE2.tar.gz").read_bytes() == data[: len(data) // 2]
    assert listing(batch / "NITE2") == before  # nothing of the earlier unpacking removed
    assert (second.alerts, second.nights, second.reused, second.validated) == (first.alerts, 2, 11, 0)
    assert {e.dia_source_id for e in index_of(batch).entries} == ids
    assert not [p for p in batch.iterdir() if p.name.startswith(".elasticc-prepare")]
    third = prepare(batch, jobs=1)
    assert (third.alerts, third.reused, third.validated, third.index_written) == (11, 11, 0, False)
    assert third.errors == [] and third.bad_archives == []


@pytest.mark.parametrize("obstacle", ["folder", "link-outside"])
def test_an_alert_that_cannot_be_written_into_its_night_is_not_indexed(tmp_path: Path, obstacle: str) -> None:
    root = tmp_path / "ALERTS"
    members = night_members(1, 3)
    name, data = real_alert(77, 60001.5)
    members.append((f"NITE1/sub/{name}", data))
    write_tar(root / "NITE1.tar.gz", members)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = elsewhere / name
    not_ours = real_alert(88, 60001.6)[1]  # a valid alert, outside ALERTS_DIR
    outside.write_bytes(not_ours)
    (root / "NITE1").mkdir(parents=True)
    if obstacle == "folder":
        (root / "NITE1" / "sub" / name).mkdir(parents=True)
        reason = "in the way"
    else:
        (root / "NITE1" / "sub").symlink_to(elsewhere)
        reason = "leads outside"
    report = prepare(root, jobs=1)
    assert [e.file for e in report.errors] == [f"NITE1/sub/{name}"] and reason in report.errors[0].reason
    index = index_of(root)
    assert report.alerts == 3 and 77 not in {e.dia_source_id for e in index.entries}
    assert all(index.path(e).is_file() for e in index.entries)
    assert not (root / "gathered" / name).exists()
    assert outside.read_bytes() == not_ours
    assert all(os.stat(p).st_ino != os.stat(outside).st_ino for p in (root / "gathered").iterdir())
    index.close()
