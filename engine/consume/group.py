"""Consumer group ids: a unique default, and a warning for the placeholders everyone copies from examples.

Two people consuming with the same group id split the topic's partitions between them and each sees only
part of the stream, which is why the reference note asks for a unique id and "please no test, foo, bar, toto".
"""

from __future__ import annotations

import getpass
import re
import secrets
import socket

# Words that show the id was copied from an example rather than chosen.
PLACEHOLDERS = frozenset({
    "test", "tests", "testing", "tst", "foo", "bar", "baz", "qux", "quux", "foobar", "toto", "titi", "tata",
    "tutu", "tete", "example", "sample", "demo", "default", "dummy", "temp", "tmp", "abc", "xyz", "xxx", "aaa",
    "asdf", "hello", "group", "groupid", "mygroup", "consumer", "myconsumer", "my", "user", "changeme", "name",
    "id", "fink", "elasticc", "kafka", "topic",
})
_TOKENS = re.compile(r"[^a-z]+")
_SAFE = re.compile(r"[^A-Za-z0-9._]+")


def default_group_id() -> str:
    """`elasticc-stream-<user>-<host>-<6 hex>`: unique per run, yet recognisable in the broker's group list."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
        user = "user"
    host = socket.gethostname().split(".")[0] or "host"
    return f"elasticc-stream-{_clean(user)}-{_clean(host)}-{secrets.token_hex(3)}"


def _clean(text: str) -> str:
    return _SAFE.sub("_", text).strip("_")[:32] or "x"


def placeholder_warning(group: str) -> str | None:
    """A one-line warning when `group` looks like a placeholder (test, foo, bar, toto, test-1, my_group...)."""
    words = [w for w in _TOKENS.split(group.lower()) if w]
    if not words:
        return f"group id {group!r} has no letters: choose one that only you would use"
    if all(w in PLACEHOLDERS for w in words):
        return (f"group id {group!r} looks like a placeholder: anyone else using it shares (and splits) the "
                "stream with you; choose one that only you would use, or omit --group for a unique one")
    return None
