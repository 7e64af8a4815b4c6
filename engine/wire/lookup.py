"""Where the writer schema of a Confluent-framed message comes from, in order.

1. the schema the user gave (``--schema FILE``),
2. the Rubin schemas that lsst-alert-packet ships, by the id they state (see `engine.schemas.rubin`),
3. the schema registry given with ``--schema-registry URL``.

Each is tried only if the ones before it did not decode the message exactly; `framed_schemas` says why
each source gave nothing, so that a failure names every place that was looked in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

GIVEN = "given"
RUBIN = "lsst-alert-packet"
REGISTRY = "registry"


def decode_framed(schema_id: int, body: bytes, schema: dict | None, registry: Any) -> tuple[Any, str]:
    """(DecodedAlert, "") if a schema found for `schema_id` reads `body` exactly, else (None, why not)."""
    from ..decoder import _read_exact, make_alert, schema_info

    failures: list[str] = []
    for label, candidate in framed_schemas(schema_id, schema, registry, failures):
        try:
            info = schema_info(candidate)
        except ValueError as exc:
            failures.append(f"{label}: {exc}")
            continue
        record, why = _read_exact(body, info)
        if why is None:
            return make_alert(record, info, label, body, schema_id), ""
        failures.append(f"{label} ({info.name}): {why}")
    return None, f"Confluent framing, schema id {schema_id}: " + "; ".join(failures)


def framed_schemas(schema_id: int, given: dict | None, registry: Any,
                   misses: list[str]) -> Iterator[tuple[str, dict]]:
    """(label, schema) candidates for `schema_id`; each source that has none appends its reason to `misses`."""
    if given is not None:
        yield GIVEN, given
    from ..schemas import rubin

    shipped = rubin.schema_for_id(schema_id)
    if shipped is not None:
        yield RUBIN, shipped[1]
    else:
        misses.append(f"lsst-alert-packet ships no schema with id {schema_id} (it has {rubin.describe_ids()})")
    if registry is None:
        misses.append("no --schema-registry given")
        return
    from .registry import RegistryError

    try:
        found = registry.schema(schema_id)
    except RegistryError as exc:
        misses.append(str(exc))
        return
    if found is None:
        misses.append(f"registry {registry.shown} has no schema id {schema_id}")
        return
    yield REGISTRY, found


def describe(label: str, schema_id: int | None, registry_shown: str | None = None) -> str:
    """How a framed alert's schema was found, for `show` and the TUI: "Confluent framing, schema id 1101, ..."."""
    where = {GIVEN: "given with --schema", RUBIN: "shipped by lsst-alert-packet",
             REGISTRY: f"from the registry{f' {registry_shown}' if registry_shown else ''}"}.get(label, label)
    return f"Confluent framing, schema id {schema_id}, {where}"
