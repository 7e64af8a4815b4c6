"""Bounded decoding: capped decompression, the schemas fastavro cannot read safely alone, and the fuzzer.

The fuzzer (tests/fuzz_decoder.py) runs in a child process under a 1 GB address-space limit, so an input that
makes the decoder allocate without bound fails it (MemoryError, or "absurd length"), and one that crashes the
interpreter fails it by exit status, instead of taking the test run (or the machine) down.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import subprocess
import sys
import zlib
from pathlib import Path

import alert_factory as af
import pytest
from elasticc_stream.engine import avro_bounds, decoder, inflate, limits
from elasticc_stream.engine.decoder import DecodeError, decode
from elasticc_stream.engine.limits import ALERT_ENV, MB, ZERO_SIZE_ITEMS

REGRESSIONS = Path(__file__).parent / "data" / "decoder"
FUZZ = Path(__file__).parent / "fuzz_decoder.py"


def _zigzag(n: int) -> bytes:
    from fuzz_decoder import zigzag

    return zigzag(n)


def _schema(field_type) -> dict:
    return {"type": "record", "name": "r", "fields": [{"name": "a", "type": field_type}]}


@pytest.fixture
def alert_cap(monkeypatch):
    """alert_cap(megabytes): the cap on a decompressed alert for this test, as --max-alert-mb would set it."""

    def set_cap(megabytes: float) -> None:
        monkeypatch.setenv(ALERT_ENV, str(megabytes))
        limits.refresh()

    yield set_cap
    monkeypatch.delenv(ALERT_ENV, raising=False)
    limits.refresh()


CHAIN = {"type": "record", "name": "node", "fields": [{"name": "next", "type": ["null", "node"]}]}


# --- which schemas need the walker --------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["stream2022", "elasticc.v0_9_1", "elasticc.v0_9"])
def test_the_shipped_schemas_and_ztf_are_read_by_fastavro_alone(label: str) -> None:
    # The common case pays nothing: no walker before fastavro.
    assert avro_bounds.guard(decoder.parsed(af.shipped(label))) is None
    assert avro_bounds.guard(decoder.parsed(af.ZTF_SCHEMA)) is None
    assert avro_bounds.guard(decoder.parsed(decoder.read_alert_file(af.REAL_ALERT)[0].schema)) is None


@pytest.mark.parametrize("field_type", [
    {"type": "array", "items": "null"},
    {"type": "array", "items": {"type": "record", "name": "e", "fields": []}},
    {"type": "array", "items": {"type": "fixed", "name": "f", "size": 0}},
    {"type": "array", "items": {"type": "array", "items": "null"}},
], ids=["null", "empty-record", "fixed0", "nested"])
def test_arrays_of_items_without_bytes_get_the_walker(field_type) -> None:
    assert avro_bounds.guard(decoder.parsed(_schema(field_type))) is not None


def test_the_rubin_schemas_are_read_by_fastavro_alone() -> None:
    from elasticc_stream.engine.schemas import rubin

    versions = rubin.shipped().values()
    assert versions and all(avro_bounds.guard(decoder.parsed(decoder.load_schema_file(v.path))) is None
                            for v in versions)


def _booleans(k: int) -> dict:
    return _schema({"type": "array", "items": {"type": "record", "name": "b", "fields": [
        {"name": f"f{i}", "type": "boolean"} for i in range(k)]}})


def test_arrays_whose_items_decode_to_far_more_than_they_take_get_the_walker() -> None:
    # One boolean byte becomes a dict of ~250 bytes; nine of them, a dict of ~600: below 64 bytes per byte.
    assert avro_bounds.guard(decoder.parsed(_booleans(1))) is not None
    assert avro_bounds.guard(decoder.parsed(_booleans(9))) is None


def test_decoded_memory_is_bounded_by_a_multiple_of_the_message() -> None:
    small = _zigzag(10_000) + b"\x01" * 10_000 + _zigzag(0)
    assert len(decode(small, schema=_booleans(1))[0].record["a"]) == 10_000
    big = _zigzag(1_000_000) + b"\x01" * 1_000_000 + _zigzag(0)  # fastavro alone: 190 MB of dicts
    with pytest.raises(DecodeError, match="would take more than 64 times the message's size in memory"):
        decode(big, schema=_booleans(1))


def test_recursive_schemas_get_the_walker_but_maps_of_nulls_do_not() -> None:
    assert avro_bounds.guard(decoder.parsed(CHAIN)) is not None
    assert avro_bounds.guard(decoder.parsed(_schema({"type": "map", "values": "null"}))) is None


# --- what the walker lets through and what it refuses -------------------------------------------------------


def test_valid_data_of_such_schemas_still_decodes() -> None:
    nulls = _schema({"type": "array", "items": "null"})
    data = _zigzag(ZERO_SIZE_ITEMS) + _zigzag(0)
    assert decode(data, schema=nulls)[0].record == {"a": [None] * ZERO_SIZE_ITEMS}
    chain = {"next": {"next": {"next": None}}}
    assert decode(af.schemaless(chain, CHAIN), schema=CHAIN)[0].record == chain
    container = af.container([{"a": [None, None]}, {"a": []}], nulls)
    assert [a.record for a in decode(container)] == [{"a": [None, None]}, {"a": []}]


def test_items_without_bytes_share_one_budget_per_message() -> None:
    nulls = _schema({"type": "array", "items": "null"})
    half = _zigzag(ZERO_SIZE_ITEMS // 2 + 1) + _zigzag(0)
    with pytest.raises(DecodeError, match=f"at most {ZERO_SIZE_ITEMS} such items in one message"):
        decode(af.container([{"a": [None] * (ZERO_SIZE_ITEMS // 2 + 1)}] * 2, nulls))
    assert len(decode(half, schema=nulls)[0].record["a"]) == ZERO_SIZE_ITEMS // 2 + 1  # each alone is fine


@pytest.mark.parametrize("data, reason", [
    (_zigzag(2**40), "array at byte 0 claims 1099511627776 items that take no bytes"),
    (_zigzag(-(2**62)) + _zigzag(3), "claims 4611686018427387904 items that take no bytes"),
    (b"\x02", "data ends early"),
])
def test_counts_the_input_cannot_hold_are_refused_before_fastavro(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as err:
        decode(data, schema=_schema({"type": "array", "items": "null"}), source="t[0]@5")
    assert str(err.value).startswith("t[0]@5: ") and "\n" not in str(err.value)


def test_deep_nesting_is_refused_instead_of_overflowing_fastavros_stack() -> None:
    deep = b"\x02" * (2 * avro_bounds.MAX_DEPTH) + b"\x00"
    with pytest.raises(DecodeError, match=f"nested more than {avro_bounds.MAX_DEPTH} levels deep"):
        decode(deep, schema=CHAIN)


def test_a_schema_nested_past_the_json_limit_is_refused_not_raised() -> None:
    # A container header, or a Kafka key, may carry any JSON: json.loads itself gives up with RecursionError.
    deep = b'{"type": "record", "name": "r", "fields": [{"name": "a", "type": ' + b"[" * 100_000
    with pytest.raises(DecodeError):
        decode(b"\x00\x02", key=deep)


def test_schema_caches_stay_bounded_on_a_stream_of_ever_new_schemas() -> None:
    from elasticc_stream.engine import avro_schemas

    record = {"type": "record", "name": "r", "fields": [{"name": "x", "type": "long"}]}
    for i in range(avro_schemas._CACHE_LIMIT + 20):
        schema = {**record, "name": f"r{i}", "doc": "d" * 200_000}  # a key of 200 kB, each one new
        key = json.dumps(schema).encode()
        assert decode(b"\x02", key=key)[0].record == {"x": 1}
        assert len(avro_schemas._by_fingerprint) <= avro_schemas._CACHE_LIMIT
        assert avro_schemas._raw_bytes <= avro_schemas._RAW_CACHE_BYTES


# --- capped decompression -----------------------------------------------------------------------------------


def test_gunzip_keeps_the_stdlib_semantics() -> None:
    one, two = gzip.compress(b"abc"), gzip.compress(b"def")
    assert inflate.gunzip(one + two + b"\x00" * 7, MB) == gzip.decompress(one + two) == b"abcdef"
    for bad, kind in [(one[:-3], "truncated"), (one + b"junk", "corrupt"), (one[:-8] + b"\x00" * 8, "corrupt")]:
        with pytest.raises(inflate.InflateError) as err:
            inflate.gunzip(bad, MB)
        assert err.value.kind == kind


def test_gunzip_stops_at_the_cap_across_members() -> None:
    member = gzip.compress(bytes(MB))
    assert len(inflate.gunzip(member * 3, 3 * MB)) == 3 * MB
    with pytest.raises(inflate.InflateError, match="inflates to more than 2 MB") as err:
        inflate.gunzip(member * 3, 2 * MB + 5)
    assert err.value.kind == "too big"


@pytest.mark.parametrize("codec, compress", [
    ("deflate", lambda d: (lambda c: c.compress(d) + c.flush())(zlib.compressobj(9, zlib.DEFLATED, -15))),
    ("bzip2", bz2.compress), ("xz", lzma.compress),
])
def test_container_codecs_are_capped(codec: str, compress) -> None:
    block = compress(bytes(3 * MB))
    assert len(inflate.inflate_block(codec, block, 3 * MB)) == 3 * MB
    with pytest.raises(inflate.InflateError, match=f"{codec} block inflates to more than 1 MB"):
        inflate.inflate_block(codec, block, MB)
    with pytest.raises(inflate.InflateError) as err:
        inflate.inflate_block(codec, block[: len(block) // 2], 3 * MB)
    assert err.value.kind in ("truncated", "corrupt")


def test_a_gzip_bomb_is_one_line_and_the_cap_is_configurable(alert_cap) -> None:
    bomb = gzip.compress(bytes(17 * MB), compresslevel=1)
    with pytest.raises(DecodeError) as err:
        decode(bomb, source="NITE1/alert_bomb.avro.gz")
    assert str(err.value) == ("NITE1/alert_bomb.avro.gz: gzip data inflates to more than 16 MB (the cap on a "
                              "decompressed alert, --max-alert-mb)")
    raw = af.container([af.elasticc_record(n_prv=3)] * 200, "elasticc.v0_9_1")
    alert_cap(len(raw) / 2 / MB)
    with pytest.raises(DecodeError, match="gzip data inflates to more than 0.0"):
        decode(gzip.compress(raw))
    alert_cap(len(raw) * 1.01 / MB)
    assert len(decode(gzip.compress(raw))) == 200


def test_container_blocks_share_the_cap_with_the_gzip_around_them(alert_cap) -> None:
    record = af.elasticc_record(n_prv=30, n_forced=30)
    container = af.container([record] * 400, "elasticc.v0_9_1", codec="deflate")
    inflated = sum(len(a.payload) for a in decode(container))  # what its blocks inflate to
    wrapped = gzip.compress(container)
    alert_cap((inflated + len(container) + 1000) / MB)
    assert len(decode(wrapped)) == 400
    alert_cap((inflated + len(container) // 2) / MB)
    assert len(decode(container)) == 400  # alone, the blocks fit
    with pytest.raises(DecodeError, match=r"block \d+: deflate block inflates to more than"):
        decode(wrapped)


# --- the fuzzer, and the inputs that once hung or crashed ----------------------------------------------------


def test_fuzzed_and_regression_inputs_decode_or_fail_cleanly_under_1_gb() -> None:
    files = sorted(REGRESSIONS.glob("*.avro"))
    assert len(files) >= 4
    run = subprocess.run(
        [sys.executable, str(FUZZ), "--cases", "5000", "--seed", "20260302", "--memory-mb", "1024", *map(str, files)],
        capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, f"fuzzer died (status {run.returncode}): {run.stderr[-2000:]}"
    result = json.loads(run.stdout)
    assert result["failures"] == [] and result["cases"] == 5000 + len(files)
    assert result["decoded"] > 50  # mutations of floats and ids keep alerts decodable: the fuzzer reaches them
    reasons = result["files"]
    assert set(reasons) == {f.name for f in files}
    assert "items that take no bytes" in reasons["container_bitflip_fields_huge_count.avro"]
    assert "items that take no bytes" in reasons["container_array_of_null_huge_count.avro"]
    assert "items that take no bytes" in reasons["container_empty_records_negative_count.avro"]
    assert "levels deep" in reasons["container_recursive_20000_deep.avro"]
    # One message at a time, and none over the 16 MB cap: the whole run stays far below the limit.
    assert result["peak_rss_mb"] < 400, result
