"""Checks of configuration values; every error is one line starting with where the value came from."""

from __future__ import annotations

import math
import re

from ..errors import UserError

_HOSTPORT = re.compile(r"(?:[A-Za-z0-9_]+://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def check_bootstrap(value: str, where: str, name: str = "KAFKA_IPPORT") -> str:
    """`host:port[,host:port...]`, as librdkafka's bootstrap.servers takes it."""
    value = value.strip()
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise UserError(f"{where}: {name} is empty (expected host:port)")
    for part in parts:
        match = _HOSTPORT.fullmatch(part)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise UserError(f"{where}: {name} must be host:port (comma-separated for several brokers), got {part!r}")
    return ",".join(parts)


def check_topic(value: str, where: str, name: str = "KAFKA_TOPIC") -> str:
    if not _TOPIC.fullmatch(value) or value in (".", ".."):
        raise UserError(f"{where}: {name} {value!r} is not a valid Kafka topic name "
                        "(letters, digits, '.', '_', '-'; at most 249)")
    return value


def as_int(value: object, where: str, name: str, *, minimum: int, allow: tuple[int, ...] = ()) -> int:
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise UserError(f"{where}: {name} must be an integer, got {value!r}") from None
    if number < minimum and number not in allow:
        expected = " or ".join([*(str(a) for a in allow), f">= {minimum}"])
        raise UserError(f"{where}: {name} must be {expected}, got {number}")
    return number


def as_float(value: object, where: str, name: str, *, minimum: float, strict: bool = False) -> float:
    if isinstance(value, bool):
        value = str(value)
    try:
        number = float(value) if isinstance(value, int | float) else float(str(value).strip())
    except ValueError:
        raise UserError(f"{where}: {name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < minimum or (strict and number == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise UserError(f"{where}: {name} must be a finite number {bound}, got {value!r}")
    return number


def as_bool(value: object, where: str, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise UserError(f"{where}: {name} must be true or false, got {value!r}")
