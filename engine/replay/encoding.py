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

UNASSIGNED = -1  # librdkafka's RD_KAFKA_PARTITION_UA: let the partitioner choose


@dataclass
class MessageEncoding:
    key_of: Callable[[Any], bytes | None]
    partition_of: Callable[[Any], int]
    frame: Callable[[Any, bytes], bytes]  # (entry, schemaless payload) -> message value
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


def _key_function(index: Any, mode: str, external: dict | None) -> Callable[[Any], bytes | None]:
    if mode == "none":
        return lambda entry: None
    if mode == "object":
        def object_key(entry: Any) -> bytes | None:
            return None if entry.dia_object_id is None else str(entry.dia_object_id).encode("ascii")

        return object_key
    if external is not None:
        fixed = _compact(external)
        return lambda entry: fixed
    cache: dict[str, bytes] = {}

    def schema_key(entry: Any) -> bytes:
        raw = cache.get(entry.schema_fp)
        if raw is None:
            raw = cache[entry.schema_fp] = _compact(index.schema(entry.schema_fp))
        return raw

    return schema_key


def _partition_function(partitions: int) -> Callable[[Any], int]:
    from ..wire.partition import partition_for

    cache: dict[int, int] = {}

    def partition_of(entry: Any) -> int:
        obj = entry.dia_object_id
        if obj is None:
            return UNASSIGNED
        p = cache.get(obj)
        if p is None:
            if len(cache) > 1_000_000:  # bounded: a batch has far fewer objects than alerts
                cache.clear()
            p = cache[obj] = partition_for(obj, partitions)
        return p

    return partition_of


def _framer(index: Any, config: Any, external: dict | None, registry: Any,
            notes: list[str]) -> Callable[[Any, bytes], bytes]:
    if config.framing == "none":
        return lambda entry, value: value
    from ..wire.confluent import header

    if config.schema_id is not None:
        fixed = header(config.schema_id)
        return lambda entry, value: fixed + value
    subject = f"{config.topic}-value"
    headers: dict[str, bytes] = {}

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
        return lambda entry, value: fixed + value
    for fp in sorted({e.schema_fp for e in index.entries}):
        headers[fp] = header(id_of(index.schema(fp)))
    return lambda entry, value: headers[entry.schema_fp] + value


def _compact(schema: dict) -> bytes:
    return json.dumps(schema, separators=(",", ":")).encode()


def _name(schema: dict) -> str:
    from ..decoder import schema_name

    return schema_name(schema)
