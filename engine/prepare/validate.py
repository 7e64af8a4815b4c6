"""Validation of one alert file's bytes: decoded exactly (through engine.decoder), index fields pulled out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..families import Family

ALERT_SUFFIXES = (".avro", ".avro.gz")


class InvalidAlert(Exception):
    """The bytes are not a usable alert; str() is the one-line reason (without the file name)."""


@dataclass(frozen=True)
class GoodRecord:
    """One decoded record of an alert file: what the index stores about it."""

    dia_source_id: int
    dia_object_id: int | None
    mid_point_tai: float
    filter_name: str
    schema_fp: str
    payload: bytes


def is_alert_name(name: str) -> bool:
    return name.endswith(ALERT_SUFFIXES) and not name.startswith(".")


def validate_alert(data: bytes, *, schema: dict | None, source: str) -> tuple[list[GoodRecord], dict[str, dict]]:
    """Decode `data` (gzip/container/schemaless, every byte consumed) -> (records, {fingerprint: schema}).

    Raises InvalidAlert with the decoder's reason, or when a record lacks the fields the index needs.
    """
    from .validate_fast import fast_records

    fast = fast_records(data)  # a container checked without building its records; None: decode exactly
    if fast is not None:
        info, family, parts = fast
        try:
            return [_good(family, record, "", info.fingerprint, payload) for record, payload in parts], \
                {info.fingerprint: info.schema}
        except InvalidAlert:
            pass  # the exact path words the reason (with the record number)
    return validate_exact(data, schema=schema, source=source)


def validate_exact(data: bytes, *, schema: dict | None, source: str) -> tuple[list[GoodRecord], dict[str, dict]]:
    """`validate_alert` through the exact decoder only (fastavro builds every record)."""
    from ..decoder import DecodeError, decode

    try:
        alerts = decode(data, schema=schema, source=source)
    except DecodeError as exc:
        raise InvalidAlert(exc.reason) from None
    records: list[GoodRecord] = []
    schemas: dict[str, dict] = {}
    for n, alert in enumerate(alerts, 1):
        where = f"record {n}: " if len(alerts) > 1 else ""
        family = alert.family
        if not family.replayable:
            raise InvalidAlert(f"{where}not an ELAsTiCC or Rubin alert (no diaSource; schema {alert.schema_label})")
        records.append(_good(family, alert.record, where, alert.fingerprint, alert.payload))
        schemas.setdefault(alert.fingerprint, alert.schema)
    return records, schemas


def _good(family: Family, record: dict, where: str, fingerprint: str, payload: bytes) -> GoodRecord:
    """The index fields of one decoded record (`record` may hold only the fields the family's paths start at)."""
    fields = family.summary(record)
    if not isinstance(fields.source_id, int) or not isinstance(fields.time, int | float):
        raise InvalidAlert(f"{where}diaSource lacks {family.names['id']} or {family.names['time']}")
    return GoodRecord(
        fields.source_id,
        fields.object_id if isinstance(fields.object_id, int) else None,
        float(fields.time),
        fields.band if isinstance(fields.band, str) else "",
        fingerprint,
        payload,
    )
