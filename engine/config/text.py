"""Reading a configuration file's text, with a decoding error placed at its line rather than a byte offset."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError


def read_config_text(path: str | Path) -> str:
    """The file as UTF-8 text; raise UserError `FILE:LINE: ...` for a byte that is not UTF-8."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read configuration file: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A user fixes a file in an editor, by line and column; the byte offset alone means nothing there.
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); "
                        "save the file as UTF-8") from None
