"""Read a page of one partition from a given offset (or time), without a consumer group: a seek.

Nothing is committed and no group is joined, so looking back in a topic never moves anyone's position.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping

from ..consume.events import AlertReceived, DecodeFailed
from ..errors import UserError
from ..kafka_config import admin_log, consumer_config, scrub

POLL_S = 0.2


def read_partition(bootstrap: str, topic: str, partition: int, offset: int, *, count: int = 200,
                   extra: Mapping[str, str] | None = None, timeout: float = 5.0,
                   schema: dict | None = None) -> Iterator[AlertReceived | DecodeFailed]:
    """Up to `count` messages of topic[partition] from `offset`, decoded; stops at the partition's end or
    after `timeout` seconds without a message."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from ..decoder import DecodeError, decode

    if offset < 0:
        raise UserError(f"offset must be 0 or more, not {offset}")
    extra = dict(extra or {})
    config = consumer_config(bootstrap, f"elasticc-stream-seek-{uuid.uuid4().hex[:8]}", extra)
    # The end is where librdkafka says it is: the embedded broker's high watermark can undercount.
    config.update({"enable.auto.commit": False, "logger": admin_log, "enable.partition.eof": True})
    try:
        consumer = Consumer(config)
    except KafkaException as exc:
        raise UserError(f"bad Kafka configuration: {scrub(str(exc), extra)}") from None
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        seen = 0
        last = time.monotonic()
        while seen < count and time.monotonic() - last < timeout:
            message = consumer.poll(POLL_S)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == -191:  # _PARTITION_EOF
                    break
                continue
            last = time.monotonic()
            seen += 1
            ts_type, ts = message.timestamp()
            ts = ts if ts_type else None
            value = message.value()
            try:
                if value is None:
                    raise DecodeError("", "empty message (null value)")
                alerts = decode(value, schema=schema, key=message.key(),
                                source=f"{topic}[{partition}] offset {message.offset()}")
            except DecodeError as exc:
                yield DecodeFailed(topic, partition, message.offset(), exc.reason)
            else:
                age = time.time() - ts / 1000 if ts is not None else None
                for alert in alerts:
                    yield AlertReceived(alert, topic, partition, message.offset(), ts, age, message.key(),
                                        tuple(message.headers() or ()))
    finally:
        consumer.close()
