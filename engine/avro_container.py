"""Avro object container files, parsed here rather than with `fastavro.reader`.

`fastavro.reader` re-parses the embedded schema for every file: prepare validates thousands of files, all
carrying the same schema, so the parsed schema is cached by the raw schema bytes (`avro_schemas`) and records
are read with `fastavro.schemaless_reader` straight from the block data. The byte range each record occupies
in its block is, by construction, its schemaless encoding: that slice is returned as the record's payload, so
nothing is re-encoded.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import fastavro

from . import avro_bounds, inflate
from .avro_schemas import CONTAINER_MAGIC, SchemaInfo, schema_from_json_bytes
from .decode_error import DecodeError, short, what_went_wrong

SYNC_SIZE = 16


def _read_long(data: bytes, pos: int, what: str, source: str) -> tuple[int, int]:
    """Avro zigzag varint at `pos` -> (value, next position)."""
    shift = 0
    acc = 0
    start = pos
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError(source, f"truncated Avro container: {what} at byte {start} ends early")
        b = data[pos]
        pos += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7
        if shift > 63:
            raise DecodeError(source, f"corrupt Avro container: {what} at byte {start} is not a valid long")


def read_header(data: bytes, source: str) -> tuple[dict[str, bytes], bytes, int]:
    pos = len(CONTAINER_MAGIC)
    meta: dict[str, bytes] = {}
    while True:
        count, pos = _read_long(data, pos, "metadata block count", source)
        if count == 0:
            break
        if count < 0:  # a negative count is followed by the block's size in bytes, which we do not need
            count = -count
            _, pos = _read_long(data, pos, "metadata block size", source)
        for _ in range(count):
            items = []
            for what in ("metadata key", "metadata value"):
                size, pos = _read_long(data, pos, f"{what} length", source)
                if size < 0 or pos + size > len(data):
                    raise DecodeError(source, f"truncated Avro container: {what} at byte {pos} ends early")
                items.append(data[pos : pos + size])
                pos += size
            try:
                meta[items[0].decode()] = items[1]
            except UnicodeDecodeError:
                raise DecodeError(source, f"corrupt Avro container: metadata key before byte {pos}") from None
    sync = data[pos : pos + SYNC_SIZE]
    if len(sync) != SYNC_SIZE:
        raise DecodeError(source, "truncated Avro container: header ends before its sync marker")
    return meta, sync, pos + SYNC_SIZE


def container_records(data: bytes, source: str, budget: int) -> tuple[SchemaInfo, Iterator[tuple[dict, bytes]]]:
    """(embedded schema, its records as (record, schemaless payload) one by one). `budget`: the bytes its
    compressed blocks may inflate to, all together.

    The header is checked at once; the blocks are read as the records are asked for, so that a caller showing
    the first few records of a big file reads only those. DecodeError (one line) for anything that is not an
    exact container, raised when the bad part is reached.
    """
    meta, sync, pos = read_header(data, source)
    raw_schema = meta.get("avro.schema")
    if raw_schema is None:
        raise DecodeError(source, "Avro container without an embedded schema (no avro.schema in its header)")
    info = schema_from_json_bytes(raw_schema)
    if info is None:
        raise DecodeError(source, "Avro container whose embedded schema is not a valid Avro record schema")
    codec = meta.get("avro.codec", b"null").decode(errors="replace") or "null"
    if codec not in inflate.CODECS:
        raise DecodeError(source, f"Avro container codec {codec!r} is not supported (null, deflate, bzip2, xz)")
    return info, _blocks(data, pos, sync, codec, info, source, budget)


def _blocks(data: bytes, pos: int, sync: bytes, codec: str, info: SchemaInfo,
            source: str, budget: int) -> Iterator[tuple[dict, bytes]]:
    guard_budget = info.guard.budget() if info.guard is not None else None  # one per message, not per block
    any_record = False
    for block_no, count, block in container_blocks(data, pos, sync, codec, source, budget):
        if guard_budget is not None:
            info.guard.grant(guard_budget, len(block))
        for item in _read_block(block, count, info, block_no, source, guard_budget):
            any_record = True
            yield item
    if not any_record:
        raise DecodeError(source, "Avro container holds no records")


def container_blocks(data: bytes, pos: int, sync: bytes, codec: str, source: str,
                     budget: int) -> Iterator[tuple[int, int, bytes]]:
    """(block number, record count, the block's bytes inflated) of each data block from `pos` (just after the
    header); DecodeError (one line) for bad framing: a short block, a wrong sync marker, an absurd count."""
    block_no = 0
    end = len(data)
    while pos < end:
        block_no += 1
        block_start = pos
        count, pos = _read_long(data, pos, f"block {block_no} record count", source)
        size, pos = _read_long(data, pos, f"block {block_no} size", source)
        if count < 0 or size < 0:
            raise DecodeError(source, f"corrupt Avro container: block {block_no} at byte {block_start}")
        if pos + size + SYNC_SIZE > end:
            raise DecodeError(
                source,
                f"truncated Avro container: block {block_no} at byte {block_start} needs "
                f"{size + SYNC_SIZE} bytes, {end - pos} left",
            )
        block = data[pos : pos + size]
        pos += size
        if data[pos : pos + SYNC_SIZE] != sync:
            raise DecodeError(source, f"corrupt Avro container: sync marker mismatch after block {block_no}")
        pos += SYNC_SIZE
        if codec != "null":
            try:
                block = inflate.inflate_block(codec, block, budget)
            except inflate.InflateError as exc:
                what = str(exc) if exc.kind == "too big" else f"{codec} data corrupt: {short(exc)}"
                raise DecodeError(source, f"block {block_no}: {what}") from None
            budget -= len(block)
        # A record takes at least one byte except with degenerate schemas; an absurd count is garbage.
        if count > len(block) + 1024:
            raise DecodeError(source, f"corrupt Avro container: block {block_no} claims {count} records")
        yield block_no, count, block


def _read_block(block: bytes, count: int, info: SchemaInfo, block_no: int,
                source: str, budget: list[int] | None) -> list[tuple[dict, bytes]]:
    buf = io.BytesIO(block)
    out = []
    reader = fastavro.schemaless_reader
    start = 0
    for i in range(count):
        try:
            if info.guard is not None:
                info.guard.check(block, start, budget)
            record = reader(buf, info.parsed, None)
        except avro_bounds.BoundsError as exc:
            raise DecodeError(source, f"block {block_no}: record {i + 1} of {count} unreadable: {exc}") from None
        except EOFError:
            raise DecodeError(
                source, f"block {block_no}: record {i + 1} of {count} ends early (embedded schema {info.name})"
            ) from None
        except Exception as exc:
            raise DecodeError(
                source, f"block {block_no}: record {i + 1} of {count} unreadable: {what_went_wrong(exc)}"
            ) from None
        stop = buf.tell()
        payload = block if count == 1 and stop == len(block) else block[start:stop]
        out.append((record, payload))
        start = stop
    if start != len(block):
        raise DecodeError(
            source, f"block {block_no}: {len(block) - start} bytes left over after its {count} record(s)"
        )
    return out
