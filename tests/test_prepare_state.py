"""prepare's per-night state on disk: what an unchanged night costs, what makes a night redone, a bad state."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from elasticc_stream.engine.prepare import prepare
from elasticc_stream.engine.prepare.state import STATE_NAME
from prepare_batches import index_of, night_members, real_alert, two_night_batch, write_tar


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return two_night_batch(tmp_path)


@pytest.fixture()
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The nights (or archives) handed to a worker, in every run of the test."""
    from elasticc_stream.engine.prepare import pool

    seen: list[str] = []
    real = pool.run_night
    monkeypatch.setattr(pool, "run_night", lambda task, tick=None: seen.append(task.archive or task.night)
                        or real(task, tick))
    return seen


def _ids(root: Path) -> set[int]:
    with index_of(root) as index:
        return {e.dia_source_id for e in index.entries}


def test_an_unchanged_night_is_not_read_again(batch: Path, tasks: list[str]) -> None:
    prepare(batch, jobs=1)
    assert sorted(tasks) == ["NITE1.tar.gz", "NITE2.tar.gz"]
    tasks.clear()
    # Bytes changed under the same inode, size and mtime: only a run that reads NITE1 again would see it.
    victim = sorted((batch / "NITE1").iterdir())[0]
    st = victim.stat()
    with open(victim, "r+b") as f:
        f.write(b"\0" * 8)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = prepare(batch, jobs=1)
    assert tasks == [] and (again.validated, again.reused, again.index_written, again.bad_alerts) == (0, 11, False, [])


def test_a_night_changed_after_the_first_run_is_redone(batch: Path, tasks: list[str]) -> None:
    prepare(batch, jobs=1)
    tasks.clear()
    name, data = real_alert(424_242, 60002.75)
    (batch / "NITE2" / "sub").mkdir()
    (batch / "NITE2" / "sub" / name).write_bytes(data)  # a new folder in the night, and an alert in it
    again = prepare(batch, jobs=1)
    assert tasks == ["NITE2"]  # the folder is validated as it is: its archive did not change
    assert (again.alerts, again.validated, again.reused, again.unpacked) == (12, 6, 6, 0)
    assert 424_242 in _ids(batch) and (batch / "gathered" / name).is_file()
    tasks.clear()
    (batch / "NITE2" / "sub" / name).unlink()  # removed from the inner folder only
    third = prepare(batch, jobs=1)
    assert tasks == ["NITE2"] and third.alerts == 11 and 424_242 not in _ids(batch)
    tasks.clear()
    assert prepare(batch, jobs=1).index_written is False and tasks == []


def test_a_replaced_archive_and_a_removed_night(batch: Path, tasks: list[str]) -> None:
    prepare(batch, jobs=1)
    tasks.clear()
    write_tar(batch / "NITE2.tar.gz", night_members(2, 7, first_id=500))  # new content for the night
    again = prepare(batch, jobs=1)
    assert tasks == ["NITE2.tar.gz"] and (again.alerts, again.unpacked, again.reused) == (6 + 7 + 5, 1, 6)
    tasks.clear()
    shutil.rmtree(batch / "NITE1")
    (batch / "NITE1.tar.gz").unlink()
    gone = prepare(batch, jobs=1)
    assert tasks == [] and gone.index_written and gone.alerts == 12 and gone.nights == 1
    with index_of(batch) as index:
        assert {e.source.split("/")[0] for e in index.entries} == {"NITE2"}


def test_a_corrupt_state_file_is_rebuilt_with_one_clear_line(batch: Path) -> None:
    prepare(batch, jobs=1)
    with index_of(batch) as index:
        entries = list(index.entries)
    (batch / STATE_NAME).write_bytes(b"this is not a database" * 100)
    again = prepare(batch, jobs=1)
    lines = [n for n in again.notes if STATE_NAME in n]
    assert len(lines) == 1 and "rebuilt" in lines[0] and "\n" not in lines[0], again.notes
    assert again.validated == 11 and again.errors == []
    with index_of(batch) as index:
        assert list(index.entries) == entries  # the same index, rebuilt
    third = prepare(batch, jobs=1)
    assert (third.validated, third.reused, third.index_written, third.notes) == (0, 11, False, [])


@pytest.mark.parametrize("how", ["missing", "other-index"])
def test_a_state_that_is_not_this_indexs_is_rebuilt(batch: Path, how: str) -> None:
    prepare(batch, jobs=1)
    if how == "missing":
        (batch / STATE_NAME).unlink()
    else:  # the state of an earlier index, as an interrupted run leaves it
        saved = (batch / STATE_NAME).read_bytes()
        write_tar(batch / "NITE3.tar.gz", night_members(3, 2))
        prepare(batch, jobs=1)
        (batch / STATE_NAME).write_bytes(saved)
    again = prepare(batch, jobs=1)
    lines = [n for n in again.notes if STATE_NAME in n]
    assert len(lines) == 1 and ("missing" if how == "missing" else "another index") in lines[0], again.notes
    assert again.reused == 0 and again.validated == again.alerts
    assert prepare(batch, jobs=1).validated == 0


def test_gathered_touched_checks_the_kept_nights_without_validating_them(batch: Path) -> None:
    prepare(batch, jobs=1)
    (batch / "gathered" / "notes.txt").write_text("mine")  # gathered/ changed, none of its alerts did
    again = prepare(batch, jobs=1)
    assert (again.validated, again.reused, again.index_written, again.errors) == (0, 11, False, [])
    assert (batch / "gathered" / "notes.txt").read_text() == "mine"


def test_the_same_alert_in_two_nights_is_indexed_once(batch: Path) -> None:
    prepare(batch, jobs=1)
    twin = sorted((batch / "NITE1").iterdir())[0]
    (batch / "NITE7").mkdir()
    shutil.copyfile(twin, batch / "NITE7" / twin.name)  # a copy, not a link: another inode, the same bytes
    other_name, other = real_alert(1, 60007.5)
    (batch / "NITE7" / sorted((batch / "NITE2").iterdir())[0].name).write_bytes(other)  # same name, other alert
    again = prepare(batch, jobs=1)
    assert [p.reason for p in again.skipped] == [f"same content as NITE1/{twin.name}; indexed once"]
    assert len(again.errors) == 1 and "a different alert" in again.errors[0].reason
    assert again.alerts == 12 and 1 in _ids(batch)
    assert prepare(batch, jobs=1).index_written is False


def test_a_full_disk_while_indexing_is_one_line_and_loses_nothing(batch: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    import errno

    from elasticc_stream.engine.errors import UserError
    from elasticc_stream.engine.prepare import index_write

    prepare(batch, jobs=1)
    before = (batch / "elasticc-stream.index").read_bytes()
    write_tar(batch / "NITE3.tar.gz", night_members(3, 2))
    real = index_write.IndexWriter.payload

    def full(self, data, crc=None):  # the disk fills up while the new index is written
        if self.final.name == "elasticc-stream.index":
            raise OSError(errno.ENOSPC, "No space left on device", str(self.paths[0]))
        return real(self, data, crc)

    monkeypatch.setattr(index_write.IndexWriter, "payload", full)
    with pytest.raises(UserError) as caught:
        prepare(batch, jobs=1)
    assert "No space left on device" in str(caught.value) and "\n" not in str(caught.value)
    assert (batch / "elasticc-stream.index").read_bytes() == before
    assert not [p for p in batch.iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(index_write.IndexWriter, "payload", real)
    again = prepare(batch, jobs=1)
    assert again.alerts == 13 and again.validated == 2 and again.reused == 11
