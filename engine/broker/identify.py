"""Which broker answers at an address: Tansu's quirks are worked around only when the broker is Tansu."""

from __future__ import annotations

from collections.abc import Mapping

from ..kafka_config import admin_config

TANSU_CLUSTER_ID = "tansu_cluster"  # Tansu's default cluster id, the one `broker start` runs it with


def is_tansu(bootstrap: str, extra: Mapping[str, str] | None = None, timeout: float = 10) -> bool:
    """True when the cluster's metadata carries Tansu's cluster id; False for Apache Kafka or when unknown."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        meta = AdminClient(admin_config(bootstrap, extra)).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return (meta.cluster_id or "").startswith("tansu")
