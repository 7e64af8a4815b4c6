"""Replay settings: the reference `.conf` keys or our TOML keys, then command-line overrides, all checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config.settings import is_toml, shell_setting
from ..config.shell_conf import ShellConf, read_shell_conf
from ..config.suggest import did_you_mean
from ..config.toml_conf import TomlConf, read_toml_conf, string_table
from ..config.values import as_bool, as_float, as_int, check_bootstrap, check_topic
from ..errors import UserError

KEY_MODES = ("object", "schema", "none")
NO_DISPLAY = "None"

# Reference `.conf` key -> ReplayConfig field.
CONF_KEYS = {
    "KAFKA_IPPORT": "bootstrap",
    "KAFKA_TOPIC": "topic",
    "FINK_DATA_SIM": "data",
    "DISPLAY_FIELD": "display_field",
    "NALERTS_PER_OBS": "per_obs",
    "NOBSERVATIONS": "observations",
    "TIME_INTERVAL": "interval",
    "EXTERNAL_SCHEMA": "schema",
    "NPARTITIONS": "partitions",
}
# Variables of the reference's own file that only serve in expansions (its --docker mode).
CONF_HELPERS = ("KAFKA_PORT_SIM", "KAFKA_IPPORT_SIM", "FINK_ALERT_SIMULATOR")

TOML_KEYS = ("bootstrap", "topic", "data", "display_field", "per_obs", "observations", "interval", "schema",
             "partitions", "key", "by_visit", "speed", "checkpoint", "framing", "schema_id", "schema_registry",
             "broker_timeout")
FRAMINGS = ("none", "confluent")

# How each field is named on the command line, for override errors.
FLAGS = {
    "bootstrap": "--bootstrap", "topic": "--topic", "data": "--data", "display_field": "--display-field",
    "per_obs": "--per-obs", "observations": "--observations", "interval": "--interval", "schema": "--schema",
    "partitions": "--partitions", "key": "--key", "by_visit": "--by-visit", "speed": "--speed",
    "resume": "--resume", "checkpoint": "--checkpoint", "kafka": "-X", "framing": "--framing",
    "schema_id": "--schema-id", "schema_registry": "--schema-registry", "registry": "--registry-property",
    "from_scratch": "--from-scratch", "broker_timeout": "--broker-timeout",
}
_CONF_NAME = {v: k for k, v in CONF_KEYS.items()}


@dataclass
class ReplayConfig:
    bootstrap: str
    topic: str
    data: Path
    display_field: str = "diaSource,midPointTai"
    per_obs: int = 5
    observations: int = -1                 # -1: every alert
    interval: float = 1.0                  # seconds between observation starts; 0: no wait
    schema: Path | None = None             # EXTERNAL_SCHEMA: encode every message with it
    partitions: int = 1
    key: str = "schema"                    # schema | object | none (see engine.replay.encoding)
    kafka: dict[str, str] = field(default_factory=dict, repr=False)  # may hold secrets: never in a repr
    by_visit: bool = False                 # one observation per exposure (shared midPointTai)
    speed: float | None = None             # space observations by real gaps / speed
    resume: bool = False
    checkpoint: Path | None = None         # default: beside the prepared index
    framing: str = "none"                  # none | confluent (Rubin's wire format)
    schema_id: int | None = None           # the Confluent schema id to frame with (default: from the schema)
    schema_registry: str | None = None     # registry URL, to find or register the id
    registry: dict[str, str] = field(default_factory=dict, repr=False)  # registry client properties (secrets)
    from_scratch: bool = False             # with resume: set the checkpoint aside and send every alert
    broker_timeout: float = 30.0           # seconds of broker silence (alerts waiting) before the run stops
    source: str = ""                       # the configuration file, for messages
    notes: list[str] = field(default_factory=list)

    def validated(self) -> ReplayConfig:
        """Check and convert every value (for configs built in code, e.g. by the TUI); raise UserError.

        Returns a copy whose fields have their proper types ("5" -> 5, "data" -> Path), so what passed the
        check cannot fail later.
        """
        where = self.source or "replay settings"
        key = str(self.key).strip().lower()
        if key not in KEY_MODES:
            raise UserError(f"{where}: key must be one of {', '.join(KEY_MODES)}, got {self.key!r}")
        framing = str(self.framing).strip().lower()
        if framing not in FRAMINGS:
            raise UserError(f"{where}: framing must be one of {', '.join(FRAMINGS)}, got {self.framing!r}")
        if framing == "none" and (self.schema_id is not None or self.schema_registry):
            raise UserError(f"{where}: schema_id and schema_registry only serve with framing confluent")
        return replace(
            self,
            key=key,
            bootstrap=check_bootstrap(str(self.bootstrap), where, "bootstrap"),
            topic=check_topic(str(self.topic), where, "topic"),
            data=Path(self.data),
            per_obs=as_int(self.per_obs, where, "per_obs", minimum=1),
            observations=as_int(self.observations, where, "observations", minimum=1, allow=(-1,)),
            interval=as_float(self.interval, where, "interval", minimum=0),
            schema=None if self.schema is None else Path(self.schema),
            partitions=as_int(self.partitions, where, "partitions", minimum=1),
            by_visit=as_bool(self.by_visit, where, "by_visit"),
            speed=None if self.speed is None else as_float(self.speed, where, "speed", minimum=0, strict=True),
            resume=as_bool(self.resume, where, "resume"),
            checkpoint=None if self.checkpoint is None else Path(self.checkpoint),
            from_scratch=as_bool(self.from_scratch, where, "from_scratch"),
            broker_timeout=as_float(self.broker_timeout, where, "broker_timeout", minimum=0, strict=True),
            kafka=dict(self.kafka),
            framing=framing,
            schema_id=None if self.schema_id is None else _schema_id(self.schema_id, where, "schema_id"),
            schema_registry=None if not self.schema_registry else str(self.schema_registry).strip(),
            registry=dict(self.registry),
            notes=list(self.notes),
        )


def load_replay_config(path: str | Path | None = None, overrides: Mapping[str, object] | None = None,
                       env: Mapping[str, str] | None = None) -> ReplayConfig:
    """Read `path` (`.conf` or `.toml`, or nothing), apply `overrides` (field name -> value, None = not given).

    Every error is raised before anything connects to Kafka, as one line naming `FILE:LINE` or the flag.
    """
    values: dict[str, object] = {}
    where: dict[str, str] = {}
    labels: dict[str, str] = {}
    notes: list[str] = []
    source = str(path) if path is not None else ""
    if path is not None:
        # One rule for every command (see engine.config.settings): a key a flag replaces is not read at all.
        given = {name for name, value in (overrides or {}).items() if value is not None}
        if is_toml(path):
            _from_toml(read_toml_conf(path), values, where, labels, notes, given)
        else:
            _from_shell(read_shell_conf(path, env), values, where, labels, notes, given)
    for name, value in (overrides or {}).items():
        if value is None or name not in FLAGS:
            continue
        if name in ("kafka", "registry"):
            merged = dict(values.get(name, {}))  # type: ignore[call-overload]
            merged.update(value)  # type: ignore[call-overload]
            values[name] = merged
            continue
        values[name] = _check(name, value, FLAGS[name], FLAGS[name])
        where[name] = labels[name] = FLAGS[name]
    for name in ("bootstrap", "topic", "data"):
        if not values.get(name):
            raise UserError(_missing(name, source))
    for name in ("data", "schema"):
        target = values.get(name)
        if target is not None and not Path(target).exists():  # type: ignore[arg-type]
            label = labels.get(name, name)
            # A flag is its own place: `--data nope does not exist`, not `--data: --data nope ...`.
            place = "" if where[name] == label else f"{where[name]}: "
            raise UserError(f"{place}{label} {target} does not exist")
    if values.get("speed") is not None and "interval" in values:
        notes.append("--speed spaces observations by their real time gaps; TIME_INTERVAL is not used")
    return ReplayConfig(**values, source=source, notes=notes)  # type: ignore[arg-type]


def _missing(name: str, source: str) -> str:
    what = {"bootstrap": "no Kafka address", "topic": "no topic", "data": "no alert folder"}[name]
    if not source:
        return f"{what}: pass {FLAGS[name]} (or -c FILE)"
    key = name if is_toml(source) else _CONF_NAME[name]
    return f"{source}: {what}: set {key} in the file or pass {FLAGS[name]}"


def _check(name: str, value: object, where: str, label: str) -> object:
    """Convert and check one value of field `name`; `where` is `FILE:LINE` or the flag, `label` its name there."""
    if name == "bootstrap":
        return check_bootstrap(str(value), where, label)
    if name == "topic":
        return check_topic(str(value), where, label)
    if name in ("data", "checkpoint"):
        text = str(value).strip()
        if not text:
            raise UserError(f"{where}: {label} is empty")
        return Path(text).expanduser()
    if name == "schema":
        text = str(value).strip()
        return None if text in ("", NO_DISPLAY) else Path(text).expanduser()
    if name == "display_field":
        text = str(value).strip()
        if not text:
            raise UserError(f"{where}: {label} is empty (use None to print no range)")
        return text
    if name == "per_obs":
        return as_int(value, where, label, minimum=1)
    if name == "observations":
        return as_int(value, where, label, minimum=1, allow=(-1,))
    if name == "partitions":
        return as_int(value, where, label, minimum=1)
    if name == "interval":
        return as_float(value, where, label, minimum=0)
    if name == "speed":
        return as_float(value, where, label, minimum=0, strict=True)
    if name == "key":
        text = str(value).strip().lower()
        if text not in KEY_MODES:
            raise UserError(f"{where}: {label} must be one of {', '.join(KEY_MODES)}, got {value!r}")
        return text
    if name == "framing":
        text = str(value).strip().lower()
        if text not in FRAMINGS:
            raise UserError(f"{where}: {label} must be one of {', '.join(FRAMINGS)}, got {value!r}")
        return text
    if name == "schema_id":
        return _schema_id(value, where, label)
    if name == "schema_registry":
        text = str(value).strip()
        if not text.startswith(("http://", "https://")):
            raise UserError(f"{where}: {label} must be an http:// or https:// URL")
        return text
    if name == "broker_timeout":
        return as_float(value, where, label, minimum=0, strict=True)
    if name in ("by_visit", "resume", "from_scratch"):
        return as_bool(value, where, label)
    raise AssertionError(name)


def _schema_id(value: object, where: str, label: str) -> int:
    number = as_int(value, where, label, minimum=0)
    if number > 0xFFFFFFFF:
        raise UserError(f"{where}: {label} must fit in 4 bytes (at most {0xFFFFFFFF}), got {number}")
    return number


def _from_shell(conf: ShellConf, values: dict[str, object], where: dict[str, str], labels: dict[str, str],
                notes: list[str], given: set[str]) -> None:
    for key, item in conf.values.items():
        name = CONF_KEYS.get(key)
        here = f"{conf.source}:{item.line}"
        if name is None:
            if key not in CONF_HELPERS:
                # The reference .conf holds keys only its own scripts read: a note, not an error; a key that
                # looks like a typo of one we read says so.
                hint = did_you_mean(key, [*CONF_KEYS, *CONF_HELPERS])
                if hint:
                    notes.append(f"warning: {here}: unknown key {key} is ignored{hint}")
                else:
                    notes.append(f"ignored key {key} at {here}")
            continue
        got = shell_setting(conf, key, replaced=name in given, blank_is_unset=name in ("bootstrap", "topic", "data"))
        if got is None:
            continue
        values[name] = _check(name, got[0], here, key)
        where[name], labels[name] = here, key


def _from_toml(conf: TomlConf, values: dict[str, object], where: dict[str, str], labels: dict[str, str],
               notes: list[str], given: set[str]) -> None:
    for key, value in conf.data.items():
        here = conf.where(key)
        if key in ("kafka", "registry"):
            values[key] = string_table(conf, key)
            continue
        if key not in TOML_KEYS:
            # Our own format: an unknown key is a mistake, not someone else's setting.
            hint = did_you_mean(key, [*TOML_KEYS, "kafka", "registry"])
            raise UserError(f"{here}: unknown key {key!r}"
                            + (hint or f" (known keys: {', '.join(TOML_KEYS)}, [kafka], [registry])"))
        if key in given:
            continue
        if isinstance(value, dict | list):
            raise UserError(f"{here}: {key} must be a single value")
        values[key] = _check(key, value, here, key)
        where[key], labels[key] = here, key
