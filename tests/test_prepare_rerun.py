"""prepare run again over its own output: what is reused, what is redone, what an earlier index still reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from elasticc_stream.engine.decoder import read_alert_file
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import AlertIndex, prepare
from elasticc_stream.engine.prepare.index import INDEX_NAME
from elasticc_stream.engine.replay.payloads import PayloadReader
from prepare_batches import index_of, listing, night_members, real_alert, two_night_batch, write_tar


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return two_night_batch(tmp_path)


# --- incremental runs ----------------------------------------------------------------------------------------


def test_payloads_of_an_untouched_index_are_not_read_again_but_a_touched_one_is_checked(
    batch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elasticc_stream.engine.prepare import publish

    prepare(batch, jobs=1)
    calls = []
    real = publish.check_payloads
    monkeypatch.setattr(publish, "check_payloads", lambda index: calls.append(1) or real(index))
    again = prepare(batch, jobs=1)
    assert not again.index_written and again.reused == 11 and calls == []
    path = batch / INDEX_NAME
    data = bytearray(path.read_bytes())
    data[200] ^= 0x20  # in the payload section, same size: only the index's stat tells it changed
    path.write_bytes(bytes(data))
    rebuilt = prepare(batch, jobs=1)
    assert calls == [1] and rebuilt.index_written
    assert any("do not match their checksum" in note for note in rebuilt.notes), rebuilt.notes
    assert prepare(batch, jobs=1).index_written is False and calls == [1]


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

    # New work only: a new night, and NITE1 again (one alert replaced: its folder changed), NITE2 untouched.
    write_tar(batch / "NITE3.tar.gz", night_members(3, 4))
    changed = sorted((batch / "NITE1").iterdir())[0]
    _, data = real_alert(999_999, 60001.99)
    changed.unlink()  # a new inode, as an editor or `tar xf` would leave it
    changed.write_bytes(data)
    third = prepare(batch, jobs=2)
    assert (third.alerts, third.nights, third.unpacked, third.validated, third.reused) == (15, 3, 1, 4 + 6, 5)
    assert third.index_written
    index = index_of(batch)
    assert 999_999 in {e.dia_source_id for e in index.entries}
    assert (batch / "gathered" / changed.name).read_bytes() == data  # our earlier link was replaced
    fourth = prepare(batch, jobs=1)
    assert (fourth.validated, fourth.reused, fourth.index_written) == (0, 15, False)


def test_a_deleted_or_replaced_gathered_file_of_an_unchanged_night_is_put_back(batch: Path) -> None:
    prepare(batch, jobs=1)
    gone, other = sorted((batch / "gathered").iterdir())[:2]
    gone.unlink()
    other.unlink()
    other.write_bytes(b"someone else's file")  # not ours any more: kept, and the alert indexed from its night
    again = prepare(batch, jobs=1)
    assert again.index_written and again.alerts == 11 and again.validated == 0
    assert gone.is_file() and [os.stat(gone).st_ino] == [p.stat().st_ino for p in batch.glob(f"NITE*/{gone.name}")]
    assert other.read_bytes() == b"someone else's file"
    assert any(other.name in p.file and "not overwritten" in p.reason for p in again.errors), again.errors
    files = {e.file for e in index_of(batch).entries}
    assert f"gathered/{gone.name}" in files and f"gathered/{other.name}" not in files


def test_existing_different_file_in_gathered_is_not_overwritten(batch: Path) -> None:
    name = night_members(1, 6)[0][0].split("/")[1]
    (batch / "gathered").mkdir()
    (batch / "gathered" / name).write_bytes(b"someone else's file")
    report = prepare(batch, jobs=1)
    assert (batch / "gathered" / name).read_bytes() == b"someone else's file"
    assert [e.file for e in report.errors] == [f"NITE1/{name}"] and "not overwritten" in report.errors[0].reason
    index = index_of(batch)
    assert f"NITE1/{name}" in {e.file for e in index.entries} and report.alerts == 11


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
    got = list(reader.iter_range(0, len(old.entries)))
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
    # The night is redone from its folder (its archive changed): NITE2's 5 alerts validated again.
    assert (second.alerts, second.nights, second.reused, second.validated) == (first.alerts, 2, 6, 5)
    assert {e.dia_source_id for e in index_of(batch).entries} == ids
    assert not [p for p in batch.iterdir() if p.name.startswith(".elasticc-prepare")]
    third = prepare(batch, jobs=1)
    assert (third.alerts, third.reused, third.validated, third.index_written) == (11, 11, 0, False)
    assert third.errors == [] and third.bad_archives == []
