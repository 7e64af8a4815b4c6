"""A Confluent-compatible schema registry (Confluent, Apicurio, Karapace...) through confluent-kafka's own client.

`SchemaRegistryClient` (the `schemaregistry` extra of confluent-kafka: httpx2, authlib, cachetools, attrs)
does the HTTP, the authentication and the caching of schemas by id; this module only turns its answers into
schema dicts and its failures into one line without secrets. Properties are the client's own names
(``basic.auth.user.info=USER:PASS``, ``ssl.ca.location``, ``bearer.auth.*``...), given with
``--registry-property`` or as ``-X schema.registry.NAME=VALUE`` (the Confluent tools' prefix).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import UserError
from ..kafka_config import REDACTED, scrub

PREFIX = "schema.registry."
# The client wants numbers for these; properties arrive as text from the command line and config files.
_NUMERIC = ("timeout", "cache.capacity", "cache.latest.ttl.sec", "max.retries", "retries.wait.ms",
            "retries.max.wait.ms")
# A registry that is down must not stall a consumer for minutes: a short timeout and one retry per request
# (the user may set both), and a failure other than "no such id" is not asked again for this long.
_DEFAULTS = {"timeout": 10, "max.retries": 1}
RETRY_AFTER_S = 10.0


class RegistryError(Exception):
    """The registry could not answer; ``str(e)`` is one line, secrets removed."""


def split_kafka_properties(props: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(librdkafka properties, registry properties): `-X schema.registry.NAME=V` go to the registry."""
    kafka: dict[str, str] = {}
    registry: dict[str, str] = {}
    for key, value in props.items():
        if key.startswith(PREFIX):
            registry[key[len(PREFIX):]] = value
        else:
            kafka[key] = value
    return kafka, registry


def safe_url(url: str) -> str:
    """The URL without the password it may carry (``https://user:pass@host``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{parts.username}:{REDACTED}@{host}", parts.path, parts.query, ""))


class Registry:
    """Schemas by id, ids by schema; safe to share between threads (the client locks its own cache)."""

    def __init__(self, url: str, properties: Mapping[str, str] | None = None) -> None:
        self.url = url.strip()
        self.shown = safe_url(self.url)
        self.properties = dict(properties or {})
        conf: dict[str, Any] = {**_DEFAULTS, "url": self.url}
        for key, value in self.properties.items():
            conf[key] = _number(key, value) if key in _NUMERIC else value
        from confluent_kafka.schema_registry import SchemaRegistryClient

        try:
            self._client = SchemaRegistryClient(conf)
        except (ValueError, TypeError) as exc:
            raise UserError(f"--schema-registry {self.shown}: {self._clean(exc)}") from None
        self._failed: dict[int, tuple[float, str | None]] = {}  # id -> (when, reason; None = no such id)
        # One dict per id: the decoder caches its parsed schemas by the dict's identity.
        self._found: dict[int, dict] = {}
        self._lock = threading.Lock()

    def schema(self, schema_id: int) -> dict | None:
        """The Avro schema registered as `schema_id`, or None if the registry has none; RegistryError if it
        cannot be asked (then not asked again about that id for RETRY_AFTER_S)."""
        with self._lock:
            hit = self._found.get(schema_id)
            failed = self._failed.get(schema_id)
        if hit is not None:
            return hit
        if failed is not None and (failed[1] is None or time.monotonic() - failed[0] < RETRY_AFTER_S):
            if failed[1] is None:
                return None
            raise RegistryError(failed[1])
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            found = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                self._remember(schema_id, None)
                return None
            raise self._failure(schema_id, f"registry {self.shown} refused schema id {schema_id}: "
                                           f"{self._clean(exc)}") from None
        except Exception as exc:  # httpx connection errors, TLS errors, JSON errors
            raise self._failure(schema_id, f"registry {self.shown} unreachable for schema id {schema_id}: "
                                           f"{self._clean(exc)}") from None
        parsed = self._as_dict(schema_id, found)
        with self._lock:
            return self._found.setdefault(schema_id, parsed)

    def id_for(self, schema: dict, subject: str) -> tuple[int, bool]:
        """(id of `schema` under `subject`, True if it was registered just now). Looked up first, registered
        only when the subject does not have it; UserError (one line) if the registry refuses both."""
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        wanted = Schema(json.dumps(schema, separators=(",", ":")), "AVRO")
        try:
            return self._client.lookup_schema(subject, wanted).schema_id, False
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise UserError(f"registry {self.shown}: looking up subject {subject}: {self._clean(exc)}") from None
        except Exception as exc:
            raise UserError(f"registry {self.shown} unreachable: {self._clean(exc)}") from None
        try:
            return self._client.register_schema(subject, wanted), True
        except Exception as exc:
            raise UserError(f"registry {self.shown}: cannot register the schema under {subject}: "
                            f"{self._clean(exc)}") from None

    def _as_dict(self, schema_id: int, found: Any) -> dict:
        kind = (found.schema_type or "AVRO").upper()
        if kind != "AVRO":
            raise self._failure(schema_id, f"registry {self.shown}: schema id {schema_id} is {kind}, not Avro")
        try:
            parsed = json.loads(found.schema_str)
        except (TypeError, ValueError):
            raise self._failure(schema_id, f"registry {self.shown}: schema id {schema_id} is not JSON") from None
        if not isinstance(parsed, dict):
            raise self._failure(schema_id, f"registry {self.shown}: schema id {schema_id} is not a record schema")
        if found.references:
            from .references import inline

            named: dict[str, Any] = {}
            self._collect(schema_id, found.references, named, set())
            parsed = inline(parsed, named)
        return parsed

    def _collect(self, schema_id: int, references: list, named: dict[str, Any], seen: set) -> None:
        """Every schema that `references` name, and theirs in turn, by the full name each defines."""
        from .references import defined_name

        for ref in references:
            where = (ref.subject, ref.version)
            if where in seen:
                continue
            seen.add(where)
            what = f"schema id {schema_id}: reference {ref.name} ({ref.subject} version {ref.version})"
            try:
                found = self._client.get_version(ref.subject, ref.version).schema
                definition = json.loads(found.schema_str)
            except Exception as exc:  # SchemaRegistryError, connection errors, JSON errors
                raise self._failure(schema_id, f"registry {self.shown}: {what}: {self._clean(exc)}") from None
            if found.references:
                self._collect(schema_id, found.references, named, seen)
            named[defined_name(definition) or ref.name] = definition

    def _remember(self, schema_id: int, reason: str | None) -> None:
        with self._lock:
            if len(self._failed) > 1024:
                self._failed.clear()
            self._failed[schema_id] = (time.monotonic(), reason)

    def _failure(self, schema_id: int, reason: str) -> RegistryError:
        self._remember(schema_id, reason)
        return RegistryError(reason)

    def _clean(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        text = text.replace(self.url, self.shown)
        password = urlsplit(self.url).password
        if password:
            text = text.replace(password, REDACTED)
        return scrub(text, self.properties)[:300]


def _number(key: str, value: object) -> int | float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"registry property {key} must be a number, got {value!r}") from None
    return int(number) if number.is_integer() else number
