"""The fast validation path (compiled skip walker) agrees with the exact decoder, on good and damaged alerts."""

from __future__ import annotations

import gzip
import random

import pytest
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.prepare.validate import InvalidAlert, validate_alert, validate_exact
from elasticc_stream.engine.prepare.validate_fast import fast_records

from tests import alert_factory as af


def _alerts() -> list[bytes]:
    out = []
    for label in ("elasticc.v0_9_1", "elasticc.v0_9"):
        recs = [af.elasticc_record(label, source_id=100 + i, object_id=i, n_prv=i, n_forced=2 * i) for i in range(4)]
        out += [af.gz(af.container(recs[:1], label)), af.container(recs, label),
                af.gz(af.container(recs, label, one_block_per_record=True))]
    return out


def _verdict(fn, data: bytes):
    try:
        return fn(data, schema=None, source="a.avro.gz")
    except InvalidAlert as exc:
        return f"bad: {exc}"


@pytest.mark.parametrize("n", range(6))
def test_good_alerts_take_the_fast_path_and_match_the_exact_decoder(n: int) -> None:
    data = _alerts()[n]
    assert fast_records(data) is not None
    assert _verdict(validate_alert, data) == _verdict(validate_exact, data)


def test_damaged_alerts_get_the_exact_verdict() -> None:
    rng = random.Random(12)
    fast_taken = 0
    for data in _alerts():
        raw = data if data[:2] != b"\x1f\x8b" else gzip.decompress(data)
        for _ in range(150):
            bad = bytearray(raw)
            if rng.random() < 0.3:
                bad = bad[: rng.randrange(len(bad))]
            else:
                for _ in range(rng.randint(1, 3)):
                    bad[rng.randrange(len(bad))] = rng.randrange(256)
            bad = bytes(bad)
            fast = fast_records(bad)
            exact = _verdict(validate_exact, bad)
            if fast is not None:
                fast_taken += 1
                # what the fast path accepts, the exact decoder decodes too, to the same payloads and fields
                alerts = decode(bad)
                assert [a.payload for a in alerts] == [p for _, p in fast[2]]
                for alert, (partial, _) in zip(alerts, fast[2], strict=True):
                    assert {k: alert.record[k] for k in partial} == partial
            assert _verdict(validate_alert, bad) == exact
    assert fast_taken > 0  # some flips land in float payload bytes: still good, still fast


@pytest.mark.parametrize("band", ["", "r", "Y" * 31, "u" * 32, "é", "r\x7f"], ids=["empty", "one", "31", "32",
                                                                                 "non-ascii", "del"])
def test_nested_strings_short_or_not_are_walked_to_the_exact_verdict(band: str) -> None:
    # Short ASCII strings are matched inside one regex per nested record; any other string is walked step
    # by step: both give the exact decoder's records.
    record = af.elasticc_record("elasticc.v0_9_1", source_id=7, object_id=3, n_prv=3, n_forced=2)
    for source in record["prvDiaSources"]:
        source["filterName"] = band
    data = af.gz(af.container([record], "elasticc.v0_9_1"))
    fast = fast_records(data)
    assert fast is not None
    assert [p for _, p in fast[2]] == [a.payload for a in decode(data)]
    assert _verdict(validate_alert, data) == _verdict(validate_exact, data)


def test_the_object_id_falls_back_to_dia_object_when_the_detection_has_none() -> None:
    # diaObject is decoded only when diaSource carries no object id: the fallback must still be read.
    record = af.elasticc_record("elasticc.v0_9_1", source_id=7, object_id=3, n_prv=1)
    record["diaSource"]["diaObjectId"] = None
    record["diaObject"]["diaObjectId"] = 42
    data = af.gz(af.container([record], "elasticc.v0_9_1"))
    assert fast_records(data) is not None
    (good,), _ = validate_alert(data, schema=None, source="a.avro.gz")
    assert good.dia_object_id == 42
    assert _verdict(validate_alert, data) == _verdict(validate_exact, data)
