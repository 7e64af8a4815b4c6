"""prepare: safe unpacking, validation, gathering, the index, the folder layouts and the CLI."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tarfile
from pathlib import Path

import pytest
from elasticc_stream.engine.decoder import decode, read_alert_file
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import AlertIndex, prepare
from prepare_batches import index_of, listing, night_members, real_alert, two_night_batch, write_tar

from elasticc_stream.cli import prepare as prepare_cli


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return two_night_batch(tmp_path)


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


# --- other layouts ----------------------------------------------------------------------------------------------


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
