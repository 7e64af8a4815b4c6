"""prepare vs the reference note's shell steps, on a batch of real-format alerts built here.

The batch: NIGHTS NITE<n>.tar.gz archives holding ALERTS gzipped Avro container alerts in all, made
from the real 2022 alert with new diaSourceId/midPointTai (the real format: embedded schema, codec null).
Baseline, in the same run on a fresh copy: the note's two scripts (`pigz -dc | tar xf -` per night, then
one `cp NITE*/$alert gathered/` per alert; `gzip -dc` stands in when pigz is missing, and the row says so).
Then `prepare` on another fresh copy (every alert decoded exactly), and a second `prepare` with nothing
changed. Ratios are speed-ups (baseline seconds / prepare seconds).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ALERTS = 3000
NIGHTS = 6

_SHELL = r"""
set -e
cd "$1"
# --- the note's first script: unpack each night, bad ones to bad/
list_of_tar=`/usr/bin/ls -1 | grep .tar.gz`
mkdir -p bad
for atar in ${list_of_tar[@]}; do
    folder=$(echo $atar | cut -d'.' -f1)
    mkdir -p $folder
    if ! $2 -dc $atar | tar xf - ; then
        echo "Failed $atar"
        rm -rf $folder
        mv $atar bad/
        continue
    fi
done
# --- the note's second script: gather every alert
mkdir -p gathered
list_of_alerts=`/usr/bin/ls -1 NITE* | grep '.*avro.gz'`
for alert in ${list_of_alerts[@]}; do
    cp NITE*/$alert gathered/
done
"""


def build_batch(dest: Path, alerts: int = ALERTS, nights: int = NIGHTS) -> int:
    """Write the NITE archives into dest; returns the number of alerts."""
    import fastavro
    from elasticc_stream.engine.decoder import SCHEMA_DIR

    real = SCHEMA_DIR.parent / "real" / "alert_mjd60674.0512_obj747_src1494043.avro.gz"
    with gzip.open(real, "rb") as f:
        reader = fastavro.reader(f)
        schema, template = reader.writer_schema, next(reader)
    parsed = fastavro.parse_schema(schema)
    dest.mkdir(parents=True, exist_ok=True)
    per_night = -(-alerts // nights)
    made = 0
    for n in range(nights):
        night = f"NITE{60600 + n}"
        with tarfile.open(dest / f"{night}.tar.gz", "w:gz") as tf:
            for i in range(min(per_night, alerts - made)):
                record = json.loads(json.dumps(template))
                source_id = 1_000_000 + made
                mjd = round(60600 + n + 0.05 + (i % 40) * 0.01, 4)  # 40 visits a night
                record["diaSource"].update(diaSourceId=source_id, midPointTai=mjd, diaObjectId=made // 3)
                out = io.BytesIO()
                fastavro.writer(out, parsed, [record], codec="null")
                data = gzip.compress(out.getvalue())
                info = tarfile.TarInfo(f"{night}/alert_mjd{mjd}_obj{made // 3}_src{source_id}.avro.gz")
                info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
                tf.addfile(info, io.BytesIO(data))
                made += 1
    return made


def _fresh_copy(batch: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(batch, dest)
    return dest


def _time_shell(folder: Path, gunzip: str) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-c", _SHELL, "shell", str(folder), gunzip], check=True, capture_output=True)
    return time.perf_counter() - start


def run(workdir: Path, bootstrap: str | None = None) -> list[dict]:
    from elasticc_stream.engine.prepare import prepare

    batch = workdir / "batch"
    count = build_batch(batch)
    gunzip = "pigz" if shutil.which("pigz") else "gzip"

    shell_dir = _fresh_copy(batch, workdir / "shell")
    shell_s = _time_shell(shell_dir, gunzip)
    gathered = len(list((shell_dir / "gathered").iterdir()))
    assert gathered == count, f"shell steps gathered {gathered} of {count}"

    prep_dir = _fresh_copy(batch, workdir / "prepare")
    start = time.perf_counter()
    report = prepare(prep_dir)
    prep_s = time.perf_counter() - start
    assert report.alerts == count and report.validated == count and not report.errors, report.to_json()

    start = time.perf_counter()
    again = prepare(prep_dir)
    again_s = time.perf_counter() - start
    assert again.reused == count and again.validated == 0, again.to_json()

    shell_name = f"shell: {gunzip} -dc | tar xf + cp per alert" + ("" if gunzip == "pigz" else " (no pigz)")
    what = f"{count} alerts, {report.nights} nights"
    return [
        {"name": f"prepare {what}, all validated", "figure": prep_s, "unit": "s",
         "baseline_name": shell_name, "baseline": shell_s, "ratio": shell_s / prep_s,
         "goal": "speed-up >= 5x (bar 2x)"},
        {"name": f"prepare again, nothing changed ({what})", "figure": again_s, "unit": "s",
         "baseline_name": "first prepare", "baseline": prep_s, "ratio": prep_s / again_s,
         "goal": "speed-up (fast second run)"},
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.table import print_table

    with tempfile.TemporaryDirectory(prefix="elasticc-bench-prepare-") as tmp:
        print_table(run(Path(tmp)))
