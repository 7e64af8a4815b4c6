"""prepare's incremental state, kept on disk beside the index (`elasticc-stream.state`, SQLite).

One row per night says what the night was when it was last prepared: its archive's stat and the stat of
every folder of its tree (an alert added, removed or replaced changes its folder's mtime and ctime), so an
unchanged night costs a few stats and one row, not work per alert. One row per alert file (its stat, the
file its entries point at, the gathered file's stat) is read only for a night being redone and for the odd
name two nights share; nothing of it is held in memory for the batch.

The state belongs to one index: the index's state section carries an id the state records when it is
committed (after the index is published). A state of another index (an interrupted run), of an older
version or one SQLite cannot read is rebuilt: every night is validated again, with one line saying why.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_NAME = "elasticc-stream.state"
VERSION = 1
# A stat is trusted to show later changes only once the clock has moved past its ctime's coarse tick
# (<= 10 ms): prepare returns no sooner than this after the youngest ctime it recorded.
SETTLED_NS = 30_000_000

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nights (night BLOB PRIMARY KEY, archive BLOB, ident TEXT NOT NULL, files INTEGER NOT NULL);
CREATE TABLE files (src BLOB PRIMARY KEY, night BLOB NOT NULL, size INTEGER, mtime INTEGER, ino INTEGER,
                    file BLOB, g_ino INTEGER, g_size INTEGER, g_mtime INTEGER);
CREATE INDEX files_night ON files (night);
CREATE INDEX files_file ON files (file);
"""
_COLUMNS = "src, night, size, mtime, ino, file, g_ino, g_size, g_mtime"


@dataclass(frozen=True)
class FileRow:
    """What was recorded of one good alert file: `file` is what its entries point at (None: a duplicate)."""

    src: str
    night: str
    size: int
    mtime: int
    ino: int
    file: str | None
    g_ino: int | None = None  # the gathered file's stat, when `file` is in gathered/
    g_size: int | None = None
    g_mtime: int | None = None


@dataclass(frozen=True)
class NightRow:
    night: str  # "" for a loose folder
    archive: str | None
    ident: dict[str, Any]  # {"archive": [size, mtime_ns, ino] | None, "dirs": [[rel, ino, mtime_ns, ctime_ns]...]}
    files: int  # good alert files found in it


class State:
    """The open state, inside one write transaction from `open` to `commit` (or `rollback`)."""

    def __init__(self, path: Path, db: sqlite3.Connection, meta: dict[str, Any]) -> None:
        self.path = path
        self.db = db
        self.meta = meta
        self.nights: dict[str, NightRow] = {
            _s(night): NightRow(_s(night), _s(archive) if archive is not None else None, json.loads(ident), files)
            for night, archive, ident, files in db.execute("SELECT night, archive, ident, files FROM nights")
        }
        db.execute(f"CREATE TEMP TABLE prev AS SELECT {_COLUMNS} FROM files WHERE 0")
        db.execute("CREATE INDEX temp.prev_night ON prev (night)")

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, index_id: str | None) -> tuple[State, str | None]:
        """The state for the index of this id (None: no usable index), or a new empty one and why."""
        path = root / STATE_NAME
        note = None
        if index_id is not None or path.exists():
            db = None
            try:
                db = _connect(path, create=False)
                meta = dict(db.execute("SELECT key, value FROM meta"))
                if meta.get("version") != str(VERSION):
                    raise _Stale(f"written by another version ({meta.get('version')})")
                if index_id is not None and meta.get("index_id") != index_id:
                    raise _Stale("it belongs to another index (an interrupted run?)")
                if index_id is None:
                    raise _Stale("no usable index beside it")
                db.execute("BEGIN IMMEDIATE")
                return cls(path, db, _decode_meta(meta)), None
            except FileNotFoundError:
                note = f"{STATE_NAME}: missing; every night is validated again and the state rebuilt"
            except (sqlite3.Error, _Stale, ValueError, TypeError) as exc:
                if db is not None:
                    db.close()
                if index_id is not None:
                    note = f"{STATE_NAME}: {_reason(exc)}; rebuilt (every night is validated again)"
        _remove(path)
        db = _connect(path, create=True)
        db.executescript(_SCHEMA)  # a new file of this run's own: no transaction needed around it
        db.execute("BEGIN IMMEDIATE")
        return cls(path, db, {}), note

    # -- nights -------------------------------------------------------------------------------------
    def retire(self, night: str) -> None:
        """The night is redone or gone: its files' rows move aside (gathering reads them as `prev`)."""
        self.db.execute(f"INSERT INTO prev SELECT {_COLUMNS} FROM files WHERE night = ?", (_b(night),))
        self.db.execute("DELETE FROM files WHERE night = ?", (_b(night),))
        self.db.execute("DELETE FROM nights WHERE night = ?", (_b(night),))
        self.nights.pop(night, None)

    def prev_rows(self, night: str) -> dict[str, FileRow]:
        """The rows a redone night had before (one night's worth)."""
        return {r.src: r for r in self._rows("SELECT * FROM prev WHERE night = ?", night)}

    def rows(self, night: str) -> Iterator[FileRow]:
        return self._rows("SELECT * FROM files WHERE night = ?", night)

    def _rows(self, sql: str, night: str) -> Iterator[FileRow]:
        for src, n, size, mtime, ino, file, *g in self.db.execute(sql.replace("*", _COLUMNS), (_b(night),)):
            yield FileRow(_s(src), _s(n), size, mtime, ino, _s(file) if file is not None else None, *g)

    def put_night(self, row: NightRow) -> None:
        self.db.execute("INSERT OR REPLACE INTO nights VALUES (?, ?, ?, ?)",
                        (_b(row.night), _b(row.archive) if row.archive is not None else None,
                         json.dumps(row.ident), row.files))
        self.nights[row.night] = row

    def put_files(self, rows: Iterable[FileRow]) -> None:
        self.db.executemany(f"INSERT OR REPLACE INTO files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            ((_b(r.src), _b(r.night), r.size, r.mtime, r.ino, None if r.file is None else _b(r.file),
                              r.g_ino, r.g_size, r.g_mtime) for r in rows))

    def owner(self, file: str) -> str | None:
        """The source already indexed from `file` (a gathered name), if any."""
        got = self.db.execute("SELECT src FROM files WHERE file = ? LIMIT 1", (_b(file),)).fetchone()
        return _s(got[0]) if got else None

    # -- ending -------------------------------------------------------------------------------------
    def commit(self, index_id: str, schema_arg: str | None, gathered: list[int] | None) -> None:
        meta = {"version": str(VERSION), "index_id": index_id, "schema_arg": json.dumps(schema_arg),
                "gathered": json.dumps(gathered)}
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        self.db.execute("DROP TABLE temp.prev")
        self.db.execute("COMMIT")
        self.db.close()

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")
        self.db.close()

    def youngest_ctime(self, nights: Iterable[str]) -> int:
        young = 0
        for night in nights:
            row = self.nights.get(night)
            if row is not None:
                young = max([young, *(d[3] for d in row.ident.get("dirs", ()))])
        return young


def settle(youngest_ctime_ns: int) -> None:
    """Wait until a stat recorded with this ctime would show any later change (a few ms at most)."""
    young = youngest_ctime_ns + SETTLED_NS - time.time_ns()
    if young > 0:
        time.sleep(min(young, SETTLED_NS) / 1e9)


def _b(name: str) -> bytes:
    """Names go in as bytes: a file name that is not UTF-8 (kept by surrogateescape) is no SQLite text."""
    return name.encode("utf-8", "surrogateescape")


def _s(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class _Stale(Exception):
    pass


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    if not create and not path.is_file():
        raise FileNotFoundError(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA temp_store = FILE")  # the prev table of a redone batch stays on disk
    return db


def _decode_meta(meta: dict[str, str]) -> dict[str, Any]:
    return {"index_id": meta.get("index_id"), "schema_arg": json.loads(meta.get("schema_arg", "null")),
            "gathered": json.loads(meta.get("gathered", "null"))}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, sqlite3.DatabaseError):
        return f"unreadable ({exc})"
    return str(exc)


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-journal")):
        p.unlink(missing_ok=True)
