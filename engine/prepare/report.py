"""What `prepare` tells its caller: progress events while it runs, a report at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    file: str  # relative to ALERTS_DIR, e.g. "NITE3.tar.gz", "NITE3/alert_x.avro.gz", "NITE3.tar.gz:../evil"
    reason: str  # one line

    def line(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass(frozen=True)
class PrepareProgress:
    """Emitted on the caller's thread. `alerts_expected` is None until every night has been looked at."""

    stage: str  # "planned" | "alerts" | "night" | "gathering" | "indexing" | "finished"
    nights_done: int
    nights_total: int
    alerts_done: int  # alert files checked or reused so far
    alerts_expected: int | None
    name: str = ""  # the night just finished, for stage "night"


@dataclass
class PrepareReport:
    root: str
    layout: str  # "nights" (NITE archives/folders, gathered/) or "loose" (alerts indexed in place)
    index_path: str = ""
    alerts: int = 0  # indexed records (one per good alert file in the real formats)
    nights: int = 0
    bad_archives: list[str] = field(default_factory=list)
    bad_alerts: list[str] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)  # everything reported, bad archives/alerts included
    skipped: list[Problem] = field(default_factory=list)  # non-alert files, duplicates: kept, not indexed
    reused: int = 0  # alert files whose earlier validation was still valid
    validated: int = 0  # alert files decoded in this run
    unpacked: int = 0  # archives unpacked in this run
    index_written: bool = False  # False when nothing changed since the last run
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "layout": self.layout,
            "index": self.index_path,
            "alerts": self.alerts,
            "nights": self.nights,
            "bad_archives": self.bad_archives,
            "bad_alerts": self.bad_alerts,
            "errors": [{"file": p.file, "reason": p.reason} for p in self.errors],
            "skipped": [{"file": p.file, "reason": p.reason} for p in self.skipped],
            "reused": self.reused,
            "validated": self.validated,
            "unpacked": self.unpacked,
            "index_written": self.index_written,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }

    def summary(self) -> str:
        parts = [
            plural(self.alerts, "alert"),
            plural(self.nights, "night") if self.layout == "nights" else "loose folder",
            plural(len(self.bad_archives), "bad archive"),
            plural(len(self.bad_alerts), "bad alert"),
        ]
        other = len(self.errors) - len(self.bad_archives) - len(self.bad_alerts)
        if other:
            parts.append(plural(other, "other problem"))
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        parts.append(f"{self.reused} reused")
        return ", ".join(parts) + f" in {self.seconds:.2f} s"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
