"""How replay turns a prepared alert into a Kafka message: its key, its partition and its framing.

Keys (`--key`), and who can read them:
- ``schema`` (default): the writer schema as JSON, Fink's own convention. fink-client's AlertConsumer
  `json.loads` the key and decodes the value with it; so does `consume`. Costs the schema's size per message.
- ``object``: the diaObjectId in ASCII. fink-client then needs ``schema_path`` (it would try to parse
  ``9198`` as a schema and fail); `consume` finds the schema itself.
- ``none``: no key; readers need the schema from elsewhere (``--schema``, ``schema_path``).

Partitions: always chosen here from the diaObjectId (see `engine.wire.partition`), so that every key mode keeps
each object's alerts in one partition, hence in time order. An alert without diaObjectId is left to the
producer's partitioner.

Framing (``--framing confluent``): the Confluent wire format Rubin uses, with the schema id from
``--schema-id N``, else from the schema registry (``--schema-registry``: looked up, or registered, under the
subject ``TOPIC-value``), else from the schema itself (Rubin schemas: `engine.schemas.rubin.schema_id_of`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..prepare.index import NO_OBJECT, R_FLAGS, R_OBJECT_ID, R_SCHEMA

UNASSIGNED = -1  # librdkafka's RD_KAFKA_PARTITION_UA: let the partitioner choose
PARTITION_CACHE = 1_000_000  # objects whose partition is remembered: a batch has far fewer objects than alerts


@dataclass
class MessageEncoding:
    """How each alert becomes a message, computed a run of raw index records at a time (AlertIndex.records):
    one list per run instead of a function call per alert."""

    keys: Callable[[list[tuple]], list[bytes | None]]
    partitions: Callable[[list[tuple]], list[int]]
    frame: Callable[[tuple, bytes], bytes] | None  # (raw record, schemaless payload) -> value; None: the payload
    notes: list[str]


def message_encoding(index: Any, config: Any, partitions: int, registry: Any = None) -> MessageEncoding:
    """Everything checked up front: a schema without an id is a UserError before anything is sent."""
    notes: list[str] = []
    external = None
    if config.schema is not None:
        from ..decoder import load_schema_file

        external = load_schema_file(config.schema)
    return MessageEncoding(_key_function(index, config.key, external), _partition_function(partitions),
                           _framer(index, config, external, registry, notes), notes)


def _key_function(index: Any, mode: str, external: dict | None) -> Callable[[list[tuple]], list[bytes | None]]:
    if mode == "none":
        return lambda records: [None] * len(records)
    if mode == "object":
        return lambda records: [None if r[R_FLAGS] & NO_OBJECT else b"%d" % r[R_OBJECT_ID] for r in records]
    if external is not None:
        fixed = _compact(external)
        return lambda records: [fixed] * len(records)
    by_schema = [_compact(index.schema(fp)) for fp in index.fingerprints]  # a few schemas per index
    return lambda records: [by_schema[r[R_SCHEMA]] for r in records]


def _partition_function(partitions: int) -> Callable[[list[tuple]], list[int]]:
    if partitions == 1:
        return lambda records: [0] * len(records)
    from confluent_kafka import murmur2  # Kafka's murmur2 in C: the same as engine.wire.partition.partition_for

    cache: dict[int, int] = {}

    def partition_of(record: tuple) -> int:
        if record[R_FLAGS] & NO_OBJECT:
            return UNASSIGNED
        obj = record[R_OBJECT_ID]
        p = cache.get(obj)
        if p is None:
            if len(cache) > PARTITION_CACHE:
                cache.clear()
            p = cache[obj] = murmur2(b"%d" % obj, partitions)
        return p

    return lambda records: [partition_of(r) for r in records]


def _framer(index: Any, config: Any, external: dict | None, registry: Any,
            notes: list[str]) -> Callable[[tuple, bytes], bytes] | None:
    if config.framing == "none":
        return None
    from ..wire.confluent import header

    if config.schema_id is not None:
        fixed = header(config.schema_id)
        return lambda record, value: fixed + value
    subject = f"{config.topic}-value"

    def id_of(schema: dict) -> int:
        if registry is not None:
            schema_id, registered = registry.id_for(schema, subject)
            notes.append(f"schema {_name(schema)}: id {schema_id} "
                         f"{'registered' if registered else 'found'} in {registry.shown} under {subject}")
            return schema_id
        from ..schemas.rubin import schema_id_of

        schema_id = schema_id_of(schema)
        if schema_id is None:
            raise UserError(f"--framing confluent: schema {_name(schema)} states no Confluent schema id (not a "
                            "Rubin lsst.vX_Y schema); pass --schema-id N or --schema-registry URL")
        notes.append(f"schema {_name(schema)}: Confluent schema id {schema_id}, stated by the schema")
        return schema_id

    if external is not None:
        fixed = header(id_of(external))
        return lambda record, value: fixed + value
    headers: dict[str, bytes] = {}
    for fp in sorted(set(index.fingerprints)):
        headers[fp] = header(id_of(index.schema(fp)))
    by_schema = [headers[fp] for fp in index.fingerprints]
    return lambda record, value: by_schema[record[R_SCHEMA]] + value


def _compact(schema: dict) -> bytes:
    return json.dumps(schema, separators=(",", ":")).encode()


def _name(schema: dict) -> str:
    from ..decoder import schema_name

    return schema_name(schema)
