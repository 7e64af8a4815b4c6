"""What every command reads from a configuration file: where Kafka is and how to talk to it.

Both formats are accepted: the reference simulator's `.conf` (KAFKA_IPPORT, KAFKA_TOPIC) and our
TOML (`bootstrap`, `topic`, `[kafka]` table of librdkafka properties).
"""

from __future__ import annotations

from pathlib import Path

from elasticc_stream.engine.config.shell_conf import read_shell_conf
from elasticc_stream.engine.config.toml_conf import read_toml_conf, string_table
from elasticc_stream.engine.config.values import check_bootstrap, check_topic


def is_toml(path: str | Path) -> bool:
    return str(path).lower().endswith(".toml")


def load_kafka_settings(path: str | Path) -> tuple[str | None, str | None, dict[str, str]]:
    """(bootstrap, topic, librdkafka properties) from a `.conf` or `.toml` file; None where unset.

    Keys the caller does not need are not checked here, so `consume -c` can share a replay file.
    """
    if is_toml(path):
        conf = read_toml_conf(path)
        bootstrap = conf.data.get("bootstrap")
        topic = conf.data.get("topic")
        if bootstrap is not None:
            bootstrap = check_bootstrap(str(bootstrap), conf.where("bootstrap"), "bootstrap")
        if topic is not None:
            topic = check_topic(str(topic), conf.where("topic"), "topic")
        return bootstrap, topic, string_table(conf, "kafka")
    shell = read_shell_conf(path)
    bootstrap = shell.get("KAFKA_IPPORT") or None
    topic = shell.get("KAFKA_TOPIC") or None
    if bootstrap is not None:
        bootstrap = check_bootstrap(bootstrap, shell.where("KAFKA_IPPORT"))
    if topic is not None:
        topic = check_topic(topic, shell.where("KAFKA_TOPIC"))
    return bootstrap, topic, {}
