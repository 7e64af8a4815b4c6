"""`python -m benchmarks --tui-soak`: the real TUI following a stream of N alerts/s for M minutes.

A broker started with the project's own `broker start` (the embedded Tansu by default, which holds every
message in memory: ~4.5 GB a minute at 10,000/s; `--kafka` for one Apache Kafka node, messages on disk), a
producer process sending pre-encoded simulated alerts with new ids at the rate (tui_soak_producer.py), and
`elasticc-stream tui` on a pseudo-terminal following the topic. Measured from outside: the TUI's RSS and CPU
from /proc every few seconds, its screen updates from the line it writes per painted batch
(ELASTICC_STREAM_TUI_STATS, tui/tick_stats.py), the count it shows at the end against what the broker
acknowledged, and the time from typing `q` to its exit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_scale_run import ELASTICC, REPO
from benchmarks.tui_pty import TuiProcess, _cpu_s, _rss_mb
from benchmarks.tui_soak_producer import write_templates

TOPIC = "tui-soak"
INTERVAL_S = 0.25  # the app's UI batch (ElasticcStreamApp.refresh_interval)
JOIN_WAIT_S = 8.0  # after the first painted batch, for the consumer's group join
CATCH_UP_S = 120.0  # after the producer ends, for the count shown to reach what was delivered
SAMPLE_S = 2.0
# Apache Kafka deletes by size only every log.retention.check.interval.ms (5 min): ~25 GB on disk at most.
RETENTION = {"retention.bytes": str(1 << 30), "segment.bytes": str(256 << 20)}


def _broker(work: Path, kafka: bool) -> tuple[str, int]:
    cmd = [*ELASTICC, "broker", "start", "--port", "0", "--dir", str(work / "broker")]
    cmd += ["--kafka"] if kafka else ["--embedded"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"broker start failed: {out.stderr.strip()}")
    pid = int((work / "broker" / "broker.pid").read_text())
    return out.stdout.strip().splitlines()[-1], pid


def _broker_log(work: Path) -> str:
    """The end of the broker's own log, for a broker that went away during the soak."""
    tails = []
    for log in sorted((work / "broker").rglob("*.log")):
        tails.append(f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(tails)


def _make_topic(bootstrap: str, partitions: int, kafka: bool) -> None:
    """The soak's topic; on Apache Kafka with a size retention, as 10 minutes at 10,000/s is ~45 GB of alerts."""
    from confluent_kafka.admin import AdminClient, NewTopic
    from elasticc_stream.engine.topics import ensure_topic

    if not kafka:
        ensure_topic(bootstrap, TOPIC, partitions)
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(TOPIC, partitions, 1, config=RETENTION)], operation_timeout=30)
    futures[TOPIC].result(60)
    ensure_topic(bootstrap, TOPIC, partitions)  # waits until it shows in the metadata


def _follower(path: Path) -> list[tuple[float, int, float]]:
    """(wall, count, worst latency of that second) per second of the bare baseline consumer."""
    if not path.exists():
        return []
    return [(float(a), int(b), float(c)) for a, b, c in (line.split() for line in path.read_text().splitlines())
            if c]


def _stats(path: Path) -> list[tuple[float, float, float, int, int, float | None]]:
    """(started, folded, painted, total, errors, latency) per UI batch: see tui/tick_stats.py."""
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 6:
            rows.append((float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3]), int(parts[4]),
                         None if parts[5] == "-" else float(parts[5])))
    return rows


def _wait_for(check, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def soak(minutes: float, rate: float, kafka: bool, bootstrap: str | None, partitions: int) -> dict:

    with tempfile.TemporaryDirectory(prefix="elasticc-tui-soak-") as tmp:
        work = Path(tmp)
        broker_pid = None
        if bootstrap is None:
            bootstrap, broker_pid = _broker(work, kafka)
        try:
            templates = work / "templates.pickle"
            count = write_templates(templates, work / "templates")
            _make_topic(bootstrap, partitions, kafka)
            stats_path = work / "tui-stats.txt"
            load_before = Path("/proc/loadavg").read_text().split()[:3]
            follower = None
            tui = TuiProcess(["--bootstrap", bootstrap, "--topic", TOPIC, "--from", "earliest"], stats_path)
            try:
                if not _wait_for(lambda: bool(_stats(stats_path)), 60):
                    raise SystemExit(f"the TUI painted nothing within 60 s:\n{tui.screen_tail}")
                follower_path = work / "follower.txt"
                follower = subprocess.Popen([sys.executable, "-m", "benchmarks.tui_soak_follower", bootstrap, TOPIC,
                                             str(follower_path)], cwd=REPO, stderr=subprocess.DEVNULL)
                time.sleep(JOIN_WAIT_S)
                tui.sample_every(SAMPLE_S)
                broker_rss: list[float] = []
                report_path = work / "producer.json"
                seconds = minutes * 60
                started_wall, started = time.time(), time.monotonic()
                producer = subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.tui_soak_producer", bootstrap, TOPIC, str(rate),
                     str(seconds), str(templates), str(report_path)], cwd=REPO, stderr=subprocess.PIPE, text=True)
                cpu: dict[str, list[float]] = {"broker": [], "producer": []}
                while producer.poll() is None:
                    if broker_pid is not None and (mb := _rss_mb(broker_pid)) is not None:
                        broker_rss.append(mb)
                    for who, pid in (("broker", broker_pid), ("producer", producer.pid)):
                        if pid is not None and (used := _cpu_s(pid)) is not None:
                            cpu[who].append(used)
                    if time.monotonic() - started > seconds + 300:
                        producer.kill()
                    time.sleep(SAMPLE_S)
                if producer.returncode != 0 and not report_path.exists():
                    raise SystemExit(f"the producer failed: {producer.stderr.read()[-1000:]}\n{_broker_log(work)}")
                report = json.loads(report_path.read_text())
                produced_at = time.monotonic()
                delivered = report["delivered"]
                caught = _wait_for(lambda: (_stats(stats_path) or [(0, 0, 0, 0, 0, None)])[-1][3] >= delivered,
                                   CATCH_UP_S)
                catch_up = time.monotonic() - produced_at
                _wait_for(lambda: (_follower(follower_path) or [(0, 0, 0)])[-1][1] >= delivered,
                          max(5.0, CATCH_UP_S - catch_up))
                follower.terminate()
                follower.wait(10)
                time.sleep(1.0)  # a few more batches: a count past the delivered one would show too
                shown = _stats(stats_path)[-1][3]
                quit_s = tui.quit()
            finally:
                tui.close()
                if follower is not None and follower.poll() is None:
                    follower.kill()
                    follower.wait(10)
            load_after = Path("/proc/loadavg").read_text().split()[:3]
            rows = [r for r in _stats(stats_path) if r[0] >= started_wall]
            return {"minutes": minutes, "rate": rate, "broker": "kafka" if kafka else ("given" if broker_pid is None
                    else "tansu"), "templates": count, "producer": report, "shown": shown, "caught_up": caught,
                    "catch_up_s": catch_up, "quit_s": quit_s, "stats": rows,
                    "follower": [r for r in _follower(follower_path) if r[0] >= started_wall],
                    "produced_wall": report["ended"],
                    "rss": [(t - started, mb, cpu) for t, mb, cpu in tui.samples if t >= started],
                    "broker_rss_max": max(broker_rss) if broker_rss else None, "output_mb": tui.output_bytes / 1e6,
                    "load": (load_before, load_after), "seconds": seconds,
                    "cpu_per_s": {who: (v[-1] - v[0]) / seconds for who, v in cpu.items() if len(v) > 1}}
        finally:
            if broker_pid is not None:
                subprocess.run([*ELASTICC, "broker", "stop", "--dir", str(work / "broker")], capture_output=True,
                               timeout=120, cwd=REPO)


def figures(result: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, goal, met or gap) rows of one soak."""
    rows: list[tuple[str, str, str, str]] = []
    rate, seconds, report = result["rate"], result["seconds"], result["producer"]
    achieved = report["rate"]
    rows.append(("producer rate", f"{achieved:,.0f}/s ({report['sent']:,} sent, {report['delivered']:,} "
                 f"acknowledged, up to {report['behind_max']:,} behind)", f"{rate:,.0f}/s",
                 "met" if achieved >= 0.98 * rate else "gap (the producer, not the TUI)"))
    rss = result["rss"]
    warm = min(60.0, seconds / 3)
    after = [(t, mb) for t, mb, _ in rss if t >= warm]
    if rss and len(after) >= 4:
        # Flat: the RSS over the last fifth of the run against the first fifth after the warm-up (medians,
        # as the collector makes it move by a few MB either way).
        span = max(1, len(after) // 5)
        first = sorted(mb for _, mb in after[:span])[span // 2]
        last = sorted(mb for _, mb in after[-span:])[span // 2]
        mbs = [mb for _, mb in after]
        rows.append((f"TUI RSS after the first {warm:.0f} s", f"{first:.0f} -> {last:.0f} MB ({last - first:+.0f} MB;"
                     f" range {min(mbs):.0f}-{max(mbs):.0f}; {rss[0][1]:.0f} MB at the start)",
                     "flat (<= +5%)", "met" if last - first <= 0.05 * first else "gap"))
        cpu = (rss[-1][2] - rss[0][2]) / max(1e-9, rss[-1][0] - rss[0][0])
        others = ", ".join(f"{who} {v:.2f}" for who, v in result.get("cpu_per_s", {}).items())
        rows.append(("CPU, s per s", f"TUI {cpu:.2f}" + (f"; {others} (of 2 cores)" if others else ""), "-", "-"))
    stats = result["stats"]
    gaps = [b[2] - a[2] - INTERVAL_S for a, b in zip(stats, stats[1:], strict=False)]
    if gaps:
        late = max(gaps)
        rows.append(("screen update late (gap between painted batches - 0.25 s)",
                     f"max {late:.2f} s, p99 {_quantile(gaps, 0.99):.2f} s over {len(stats):,} updates",
                     "<= 0.5 s", "met" if late <= 0.5 else "gap"))
        parts = (("timer late", [b[0] - a[0] - INTERVAL_S for a, b in zip(stats, stats[1:], strict=False)]),
                 ("folding", [r[1] - r[0] for r in stats]), ("painting", [r[2] - r[1] for r in stats]))
        rows.append(("  of which (max, p99)", "; ".join(f"{what} {max(v):.2f}, {_quantile(v, 0.99):.2f} s"
                                                        for what, v in parts), "-", "-"))
    ages = [r[5] for r in stats if r[5] is not None]
    if ages:
        acked = report.get("ack_max")
        baseline = (f"; baseline, produce() to the broker's ack (every 100th message): p99 {report['ack_p99']:.2f} s,"
                    f" max {acked:.2f} s") if acked is not None else ""
        rows.append(("newest alerts' latency on screen (median of each batch, produce() to receipt)",
                     f"max {max(ages):.2f} s, p99 {_quantile(ages, 0.99):.2f} s{baseline}",
                     "keeps up: max within 0.5 s of the baseline's",
                     "met" if max(ages) <= (acked or 0.0) + 0.5 else "gap"))
    bare = result.get("follower") or []
    if bare:
        ended = result["produced_wall"]
        at_end = max((c for w, c, _ in bare if w <= ended), default=0)
        done = next((w - ended for w, c, _ in bare if c >= report["delivered"]), None)
        rows.append(("baseline: a bare confluent-kafka consumer beside it (count only)",
                     f"latency max {max(x for _, _, x in bare):.2f} s; {at_end:,} read when the producer ended, all "
                     + (f"{max(0.0, done):.1f} s after" if done is not None else "not within the wait"), "-", "-"))
    shown, delivered = result["shown"], report["delivered"]
    rows.append(("count shown at the end", f"{shown:,} of {delivered:,} acknowledged"
                 + (f", {result['catch_up_s']:.1f} s after the producer ended" if result["caught_up"] else
                    f", not reached {CATCH_UP_S:.0f} s after"), "exact", "met" if shown == delivered else "gap"))
    quit_s = result["quit_s"]
    rows.append(("`q` to exit", f"{quit_s:.2f} s" if quit_s is not None else "did not exit in 30 s", "< 2 s",
                 "met" if quit_s is not None and quit_s < 2 else "gap"))
    if result["broker_rss_max"] is not None:
        rows.append((f"broker ({result['broker']}) RSS, max", f"{result['broker_rss_max']:.0f} MB", "-", "-"))
    return rows


def print_soak(result: dict) -> None:
    (l1, l5, l15), (e1, e5, e15) = result["load"]
    print(f"\nTUI soak: {result['minutes']:g} min at {result['rate']:,.0f} alerts/s on {result['broker']}, "
          f"{result['templates']:,} simulated alerts as templates (new diaSourceId each), 120x40 pty; "
          f"load average {l1} {l5} {l15} before, {e1} {e5} {e15} after")
    header = ("figure", "value", "goal", "met/gap")
    lines = figures(result)
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=False)]
    for line in (header, *lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks --tui-soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the producer sends (default 10)")
    parser.add_argument("--rate", type=float, default=10_000.0, help="alerts per second (default 10000)")
    parser.add_argument("--kafka", action="store_true", help="one Apache Kafka node instead of the embedded broker")
    parser.add_argument("--bootstrap", help="an existing broker instead of one started for the run")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the soak's topic (default 4)")
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    result = soak(args.minutes, args.rate, args.kafka, args.bootstrap, args.partitions)
    if args.json:
        Path(args.json).write_text(json.dumps(result))
    print_soak(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
