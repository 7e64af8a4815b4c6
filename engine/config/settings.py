"""What every command reads from a configuration file: where Kafka is and how to talk to it.

Both formats are accepted: the reference simulator's `.conf` (KAFKA_IPPORT, KAFKA_TOPIC) and our
TOML (`bootstrap`, `topic`, `[kafka]` table of librdkafka properties).

One reading rule for every command: a key that a command-line flag replaces is not evaluated at all,
so a line that cannot be computed (e.g. an unset variable) only matters when its value is used.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from .shell_conf import ShellConf, read_shell_conf
from .toml_conf import read_toml_conf, string_table
from .values import check_bootstrap, check_topic

# `.conf` keys of the Kafka settings, by field name (the TOML key is the field name).
KAFKA_CONF_KEYS = {"bootstrap": "KAFKA_IPPORT", "topic": "KAFKA_TOPIC"}


def is_toml(path: str | Path) -> bool:
    return str(path).lower().endswith(".toml")


def shell_setting(conf: ShellConf, key: str, *, replaced: bool, blank_is_unset: bool) -> tuple[str, str] | None:
    """(value, `FILE:LINE`) of `key`, or None when absent, replaced by a flag, or blank where blank means unset.

    A replaced key is never evaluated; otherwise an unset variable in it raises UserError naming its line.
    """
    item = conf.values.get(key)
    if item is None or replaced:
        return None
    raw = item.get()
    if blank_is_unset and not raw.strip():
        return None  # the reference's own file ships KAFKA_IPPORT="": unset, a flag must give it
    return raw, f"{conf.source}:{item.line}"


def load_kafka_settings(path: str | Path, overridden: Collection[str] = (),
                        env: Mapping[str, str] | None = None) -> tuple[str | None, str | None, dict[str, str]]:
    """(bootstrap, topic, librdkafka properties) from a `.conf` or `.toml` file; None where unset.

    `overridden` names the fields ("bootstrap", "topic") that flags replace: those are neither evaluated nor
    checked (None is returned for them), as replay does. Keys the caller does not need are not checked either,
    so `consume -c` can share a replay file.
    """
    found: dict[str, tuple[str, str, str]] = {}  # field -> (value, where, name in the file)
    if is_toml(path):
        conf = read_toml_conf(path)
        for name in KAFKA_CONF_KEYS:
            if name in conf.data and name not in overridden:
                found[name] = (str(conf.data[name]), conf.where(name), name)
        props = string_table(conf, "kafka")
    else:
        shell = read_shell_conf(path, env)
        for name, key in KAFKA_CONF_KEYS.items():
            got = shell_setting(shell, key, replaced=name in overridden, blank_is_unset=True)
            if got is not None:
                found[name] = (got[0], got[1], key)
        props = {}
    bootstrap = topic = None
    if "bootstrap" in found:
        bootstrap = check_bootstrap(*found["bootstrap"])
    if "topic" in found:
        topic = check_topic(*found["topic"])
    return bootstrap, topic, props
