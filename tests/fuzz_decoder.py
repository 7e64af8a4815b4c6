"""A seeded mutation fuzzer for engine.decoder, run by test_bounds.py in a child process under a memory limit.

`python tests/fuzz_decoder.py --cases N --seed S --memory-mb M [FILE...]` sets RLIMIT_AS to M MB, decodes the
regression FILEs and N mutations of real-format alerts, and prints one JSON object: cases, decoded, rejected,
failures (case, what), slowest case, peak RSS, and why each FILE was rejected. A failure is an exception other
than DecodeError, a case that takes more than CASE_SECONDS, or a rejection that only came from a failed
allocation ("absurd length"). A crash (the stack overflow fastavro's C recursion used to hit) shows as the
child's exit status.

Seeds: the real 2022 alert (container, and its schemaless payload), generated alerts for each shipped schema
(schemaless, container with the null, deflate, bzip2 and xz codecs), a ZTF-like container, containers whose
schemas reach fastavro's unbounded cases (an array of nulls, a recursive record, an array of one-boolean
records) with small valid data, and
gzip of each plus a gzip bomb a little over the cap. Mutations: bit flips (anywhere, so container schemas
too), random bytes, a huge varint written over or inserted at a random byte, truncation, and flips of the
first letters of "fields" in a container's schema (which fastavro reads as a record with no fields).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import resource
import signal
import sys
import time
from pathlib import Path

CASE_SECONDS = 5.0
HUGE = (2**31, 2**40, 2**62, -(2**62), 2**63 - 1)


def zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def seeds() -> list[bytes]:
    import alert_factory as af
    from elasticc_stream.engine import decoder
    from elasticc_stream.engine.limits import max_alert_bytes

    real = af.REAL_ALERT.read_bytes()
    out = [gzip.decompress(real), decoder.read_alert_file(af.REAL_ALERT)[0].payload]
    for label in ("stream2022", "elasticc.v0_9_1", "elasticc.v0_9"):
        schema = af.shipped(label)
        record = af.elasticc_record(label, n_prv=8, n_forced=8)
        out.append(af.schemaless(record, schema))
        for codec in ("null", "deflate", "bzip2", "xz"):
            out.append(af.container([record, record], schema, codec=codec))
    out.append(af.container([af.ztf_record()], af.ZTF_SCHEMA))
    nulls = {"type": "record", "name": "n", "fields": [{"name": "a", "type": {"type": "array", "items": "null"}},
                                                        {"name": "m", "type": {"type": "map", "values": "null"}}]}
    out.append(af.container([{"a": [None] * 5, "m": {"k": None}}], nulls))
    chain = {"type": "record", "name": "node", "fields": [{"name": "v", "type": "long"},
                                                          {"name": "next", "type": ["null", "node"]}]}
    out.append(af.container([{"v": 1, "next": {"v": 2, "next": {"v": 3, "next": None}}}], chain))
    flags = {"type": "record", "name": "f", "fields": [{"name": "a", "type": {"type": "array", "items": {
        "type": "record", "name": "b", "fields": [{"name": "on", "type": "boolean"}]}}}]}
    out.append(af.container([{"a": [{"on": True}] * 50}], flags))
    out.extend([gzip.compress(s, mtime=0) for s in out])
    out.append(_zeros_gzip(max_alert_bytes() + 1024 * 1024))
    return out


def _zeros_gzip(size: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        chunk = bytes(1024 * 1024)
        for _ in range(size // len(chunk)):
            gz.write(chunk)
    return buf.getvalue()


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif op == 1:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 2:
        at = rng.randrange(len(b))
        b[at : at + rng.randint(1, 3)] = zigzag(rng.choice(HUGE))
    elif op == 3:
        at = rng.randrange(len(b))
        b[at:at] = zigzag(rng.choice(HUGE + (rng.randrange(-(2**40), 2**40),)))
    elif op == 4:
        del b[rng.randrange(1, len(b)) :]
    else:
        spots = [i for i in range(min(len(b), 20_000)) if b[i : i + 8] == b'"fields"']
        if spots:
            b[rng.choice(spots) + rng.randint(1, 6)] ^= 1 << rng.randrange(8)
        at = rng.randrange(len(b))
        b[at:at] = b"\x02" + zigzag(rng.choice(HUGE))
    return bytes(b)


class _Slow(Exception):
    pass


def _alarm(signum, frame):
    raise _Slow()


def run(cases: int, seed: int, files: list[Path]) -> dict:
    from elasticc_stream.engine.decoder import DecodeError, decode

    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(seed)
    base = seeds()
    inputs = [(str(f), f.read_bytes()) for f in files]
    inputs += [(f"case {i}", None) for i in range(cases)]
    result = {"cases": 0, "decoded": 0, "rejected": 0, "failures": [], "slowest_s": 0.0, "files": {}}
    start = time.perf_counter()
    for name, data in inputs:
        if data is None:
            data = mutate(rng, rng.choice(base))
        t = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
        try:
            decode(data, source=name)
            result["decoded"] += 1
        except DecodeError as exc:
            result["rejected"] += 1
            if not name.startswith("case "):
                result["files"][Path(name).name] = exc.reason
            if "absurd length" in exc.reason:
                result["failures"].append([name, f"allocation failed before any bound: {exc.reason}"])
        except _Slow:
            result["failures"].append([name, f"took more than {CASE_SECONDS} s"])
        except Exception as exc:  # the point of the fuzzer: nothing but DecodeError may come out
            result["failures"].append([name, f"{type(exc).__name__}: {exc}"[:300]])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        result["cases"] += 1
        result["slowest_s"] = max(result["slowest_s"], time.perf_counter() - t)
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    limit = args.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, str(Path(__file__).parent))  # alert_factory
    print(json.dumps(run(args.cases, args.seed, args.files)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
