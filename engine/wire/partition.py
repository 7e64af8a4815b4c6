"""The partition of an object's alerts: a stable hash of its diaObjectId, whatever the message key.

Kafka keeps order only within a partition, so all the alerts of one object must go to one partition. With the
key holding the schema (Fink's convention, which fink-client needs) every message has the same key, and a
key-hashing partitioner would put the whole stream in one partition; so replay picks the partition itself.
The hash is Kafka's own default one (murmur2 of the key bytes, as the Java clients and librdkafka's
``partitioner=murmur2`` compute it) applied to the diaObjectId in ASCII: an object lands where a Java producer
keyed by diaObjectId would put it, and a test checks the result against librdkafka's.
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (32-bit, seed 0x9747b28c), as an unsigned 32-bit integer."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end = length - length % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = length % 4
    if tail == 3:
        h ^= data[end + 2] << 16
    if tail >= 2:
        h ^= data[end + 1] << 8
    if tail >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(object_id: int | str, partitions: int) -> int:
    """The partition of `object_id` among `partitions` (Kafka's rule: positive murmur2 modulo the count)."""
    return (murmur2(str(object_id).encode("ascii")) & 0x7FFFFFFF) % partitions
