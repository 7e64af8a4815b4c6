"""Cheap network checks on a broker address, with no Kafka client library involved.

`broker start` polls readiness many times; a raw Metadata request avoids librdkafka's connection-refused log
noise and its start-up cost.
"""

from __future__ import annotations

import socket
import struct


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the brokers themselves bind: connections of a just-stopped broker in TIME_WAIT do not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def metadata_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a Kafka Metadata (v1) request at host:port gets a well-formed answer."""
    return metadata_brokers(host, port, timeout) is not None


def metadata_brokers(host: str, port: int, timeout: float = 2.0) -> int | None:
    """How many brokers a Metadata (v1) answer from host:port lists; None when no well-formed answer came.

    A cluster node that answers but lists fewer brokers than the cluster has is not ready for topics
    replicated to all of them.
    """
    correlation = 0x5EED
    client = b"elasticc-stream"
    header = struct.pack(">hhih", 3, 1, correlation, len(client)) + client
    body = struct.pack(">i", 0)  # an empty topic list: brokers only, no auto-creation
    request = struct.pack(">i", len(header) + len(body)) + header + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(request)
            head = _read_exactly(sock, 12)
    except OSError:
        return None
    if head is None:
        return None
    size, got, brokers = struct.unpack(">iii", head)
    return brokers if got == correlation and size >= 8 else None


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data
