"""prepare against hostile archives: oversized members, members the disk refuses, gzip bombs among the alerts.

The archives are built here, small on disk: members of zeros are streamed through gzip, so a member of 65 MB
costs 65 kB.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from elasticc_stream.engine.limits import MEMBER_ENV
from elasticc_stream.engine.prepare import prepare
from prepare_batches import night_members, real_alert, write_tar

MB = 1024 * 1024


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read in chunks: a member's content that is never held whole."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def hostile_tar(path: Path, members: list, zeros: dict[str, int] = {}, special: list = (), cut: int = 0) -> Path:  # noqa: B006
    """A NITE tarball of (name, bytes) members, raw TarInfos (links...), then members of zeros {name: size};
    `cut` bytes removed from its end (a truncated archive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in special:
            tf.addfile(info)
        for name, size in zeros.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BufferedReader(_Zeros(size), MB))
    if cut:
        data = path.read_bytes()
        path.write_bytes(data[:-cut])
    return path


def gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes, built by streaming: about size/1000 bytes."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as gz:
        chunk = bytes(MB)
        for _ in range(size // MB):
            gz.write(chunk)
    return out.getvalue()


def _errors(report) -> dict[str, str]:
    return {e.file: e.reason for e in report.errors}


def test_a_member_over_the_cap_is_refused_unwritten_and_the_night_kept(tmp_path: Path) -> None:
    root = tmp_path / "ALERTS"
    good = night_members(1, 4)
    archive = hostile_tar(root / "NITE1.tar.gz", good, zeros={"NITE1/zeros.avro": 65 * MB})
    assert archive.stat().st_size < 2 * MB
    report = prepare(root, jobs=1)
    errors = _errors(report)
    assert list(errors) == ["NITE1.tar.gz:NITE1/zeros.avro"]
    assert "65 MB, more than the 64 MB cap on a member" in errors["NITE1.tar.gz:NITE1/zeros.avro"]
    assert not (root / "NITE1" / "zeros.avro").exists()
    assert report.alerts == 4 and report.bad_archives == [] and report.skipped == []
    assert sorted(p.name for p in (root / "NITE1").iterdir()) == sorted(m.split("/")[1] for m, _ in good)


def test_the_member_cap_is_configurable_and_reaches_the_workers(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "ALERTS"
    hostile_tar(root / "NITE2.tar.gz", night_members(2, 3), zeros={"NITE2/notes.txt": 3 * MB})
    monkeypatch.setenv(MEMBER_ENV, "2")
    report = prepare(root, jobs=2)
    assert "3 MB, more than the 2 MB cap" in _errors(report)["NITE2.tar.gz:NITE2/notes.txt"]
    assert report.alerts == 3 and not (root / "NITE2" / "notes.txt").exists()


def test_a_member_the_filesystem_refuses_is_reported_and_the_rest_kept(tmp_path: Path) -> None:
    root = tmp_path / "ALERTS"
    good = night_members(3, 4)
    long_name = "NITE3/" + "a" * 300 + ".avro.gz"
    _, data = real_alert(3999, 60003.9)
    deep = "NITE3/" + "d" * 250 + "/" + "e" * 260 + "/x.avro.gz"
    hostile_tar(root / "NITE3.tar.gz", [good[0], (long_name, data), *good[1:], (deep, data)])
    report = prepare(root, jobs=1)
    errors = _errors(report)
    assert set(errors) == {f"NITE3.tar.gz:{long_name}", f"NITE3.tar.gz:{deep}"}
    assert all("cannot write" in reason and "too long" in reason for reason in errors.values())
    assert report.alerts == 4 and report.bad_archives == []
    assert len(list((root / "gathered").iterdir())) == 4


def test_hostile_members_are_all_reported_when_the_archive_is_also_truncated(tmp_path: Path) -> None:
    root = tmp_path / "ALERTS"
    link = tarfile.TarInfo("NITE4/passwd.avro.gz")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    members = [("../escape.avro.gz", b"x"), ("NITE4/" + "b" * 300 + ".avro.gz", b"y"), *night_members(4, 30)]
    hostile_tar(root / "NITE4.tar.gz", members, zeros={"NITE4/zeros.avro": 65 * MB}, special=[link], cut=300)
    report = prepare(root, jobs=1)
    errors = _errors(report)
    assert report.bad_archives == ["NITE4.tar.gz"] and "truncated" in errors["NITE4.tar.gz"]
    refused = {f.split(":", 1)[1] for f in errors if ":" in f}
    assert refused == {"../escape.avro.gz", members[1][0], "NITE4/zeros.avro", "NITE4/passwd.avro.gz"}
    assert not (root / "NITE4").exists() and (root / "bad" / "NITE4.tar.gz").exists()


def test_a_gzip_bomb_among_the_alerts_is_refused_by_the_cap_with_one_line(tmp_path: Path) -> None:
    root = tmp_path / "ALERTS"
    bomb = gzip_bomb(200 * MB)
    write_tar(root / "NITE5.tar.gz", [*night_members(5, 3), ("NITE5/alert_bomb.avro.gz", bomb)])
    report = prepare(root, jobs=1)
    assert report.bad_alerts == ["NITE5/alert_bomb.avro.gz"] and report.alerts == 3
    reason = _errors(report)["NITE5/alert_bomb.avro.gz"]
    assert "gzip data inflates to more than 16 MB (the cap on a decompressed alert" in reason
    assert "\n" not in reason and "Confluent" not in reason
    assert (root / "bad" / "NITE5__alert_bomb.avro.gz").read_bytes() == bomb


def test_prepare_of_a_4000_mb_bomb_stays_within_a_small_memory_limit(tmp_path: Path) -> None:
    """The issue's case: an alert inflating to 4,000 MB (prepare peaked at 8.25 GB). Concatenated gzip members
    (one per 100 MB, which gzip readers inflate in sequence) keep it quick to build; prepare then runs as the
    CLI under a 600 MB address-space limit that an unbounded decompression cannot fit in."""
    root = tmp_path / "ALERTS"
    bomb = gzip_bomb(100 * MB) * 40
    write_tar(root / "NITE6.tar.gz", [*night_members(6, 2), ("NITE6/alert_bomb.avro.gz", bomb)])
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (600 << 20, 600 << 20)); "
            "from elasticc_stream.cli.main import main; sys.exit(main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", code, "prepare", str(root), "--jobs", "1", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["alerts"] == 2 and report["bad_alerts"] == ["NITE6/alert_bomb.avro.gz"]
    (error,) = [e for e in report["errors"] if e["file"] == "NITE6/alert_bomb.avro.gz"]
    assert "inflates to more than 16 MB" in error["reason"]


@pytest.mark.parametrize("flag, value", [("--max-member-mb", "0"), ("--max-alert-mb", "x")])
def test_cli_caps_must_be_positive_numbers(tmp_path: Path, flag: str, value: str) -> None:
    run = subprocess.run([sys.executable, "-m", "elasticc_stream", "prepare", str(tmp_path), flag, value],
                         capture_output=True, text=True, timeout=60, env={**os.environ})
    assert run.returncode == 2 and flag in run.stderr and "Traceback" not in run.stderr


def test_a_loose_alert_file_over_the_cap_is_reported_and_never_read(tmp_path: Path) -> None:
    root = tmp_path / "ALERTS"
    root.mkdir()
    for sid in (1, 2):
        name, data = real_alert(sid, 60001.0 + sid)
        (root / name).write_bytes(data)
    huge = root / "alert_huge.avro"
    with open(huge, "wb") as f:
        f.truncate(100 * MB)  # sparse: no disk used
    report = prepare(root, jobs=1)
    assert report.alerts == 2 and report.bad_alerts == []
    assert "100 MB, more than the 64 MB cap on an alert file" in _errors(report)["alert_huge.avro"]
    assert huge.stat().st_size == 100 * MB


def test_a_bad_cap_in_the_environment_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "ELASTICC_STREAM_MAX_ALERT_MB": "lots"}
    run = subprocess.run([sys.executable, "-m", "elasticc_stream", "prepare", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip() == ("elasticc-stream prepare: error: ELASTICC_STREAM_MAX_ALERT_MB in the environment: "
                                  "not a number of MB: 'lots'")


def test_alerts_past_the_in_memory_budget_are_read_back_from_disk(tmp_path: Path, monkeypatch) -> None:
    from elasticc_stream.engine.prepare import unpack

    monkeypatch.setattr(unpack, "IN_MEMORY_BUDGET", 3000)  # two alerts of ~1.4 kB, then the disk
    root = tmp_path / "ALERTS"
    good = night_members(7, 6)
    bad_name, whole = real_alert(7999, 60007.9)
    hostile_tar(root / "NITE7.tar.gz", [*good, (f"NITE7/{bad_name}", whole[:-10])])
    report = prepare(root, jobs=1)
    assert report.alerts == 6 and report.bad_alerts == [f"NITE7/{bad_name}"] and report.skipped == []
    assert (root / "bad" / f"NITE7__{bad_name}").read_bytes() == whole[:-10]


def test_an_alert_member_over_64_mb_is_still_validated_when_the_cap_allows_it(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "ALERTS"
    hostile_tar(root / "NITE8.tar.gz", night_members(8, 2), zeros={"NITE8/alert_big.avro": 65 * MB})
    monkeypatch.setenv(MEMBER_ENV, "100")
    report = prepare(root, jobs=1)
    assert report.alerts == 2 and report.bad_alerts == ["NITE8/alert_big.avro"] and report.skipped == []
