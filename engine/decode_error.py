"""The one error type of alert decoding, shared by the decoder and the container parser."""

from __future__ import annotations


class DecodeError(Exception):
    """Alert bytes that cannot be decoded exactly. ``str(e)`` is one line: "<source>: <reason>"."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{source}: {self.reason}" if source else self.reason)

    def __reduce__(self):  # prepare's worker processes send these back through pickle
        return (type(self), (self.source, self.reason))


def short(exc: BaseException) -> str:
    """An exception's text on one line, at most 200 characters (its type name if it has no text)."""
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


def what_went_wrong(exc: Exception) -> str:
    """What garbage made fastavro raise, in words (its exception types say little on their own)."""
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8 in a string"
    if isinstance(exc, IndexError):
        return "invalid union branch or enum symbol"
    if isinstance(exc, MemoryError | OverflowError):
        return "absurd length"
    return type(exc).__name__
