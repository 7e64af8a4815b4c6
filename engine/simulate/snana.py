"""Read an SNANA simulation (the `<prefix>_HEAD.FITS.gz` / `<prefix>_PHOT.FITS.gz` pair).

HEAD has one row per object; PTROBS_MIN/PTROBS_MAX (1-based, inclusive) point at the object's
rows in PHOT. PHOT rows with BAND '-' or a negative MJD only separate light curves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

BUNDLED_NAME = "MLAG_HOSTLIB_ALLCLASS_NONIaMODEL0-0010"
HEAD_SUFFIX = "_HEAD.FITS.gz"
PHOT_SUFFIX = "_PHOT.FITS.gz"

_HEAD_REQUIRED = ("SNID", "RA", "DEC", "PTROBS_MIN", "PTROBS_MAX")
_PHOT_REQUIRED = ("MJD", "BAND", "PHOTFLAG", "FLUXCAL", "FLUXCALERR")

# PHOTFLAG bit that SNANA sets on an epoch passing the detection trigger.
DETECTION_BIT = 4096


def bundled_snana_prefix() -> Path:
    """The SNANA simulation shipped with the package (200 light curves, see engine/data/README)."""
    return Path(__file__).resolve().parent.parent / "data" / "snana" / BUNDLED_NAME


def resolve_prefix(text: str | Path) -> Path:
    """Turn what the user typed into a prefix whose HEAD and PHOT files exist.

    Accepts the literal word `bundled`, a prefix, or the path of either FITS file.
    """
    if str(text) == "bundled":
        prefix = bundled_snana_prefix()
    else:
        raw = str(text)
        for suffix in (HEAD_SUFFIX, PHOT_SUFFIX):
            if raw.endswith(suffix):
                raw = raw[: -len(suffix)]
        prefix = Path(raw).expanduser()
    for suffix in (HEAD_SUFFIX, PHOT_SUFFIX):
        path = Path(str(prefix) + suffix)
        if not path.is_file():
            raise UserError(f"{path}: no such SNANA file (give the path prefix before {HEAD_SUFFIX})")
    return prefix


@dataclass(frozen=True)
class LightCurve:
    """One simulated object: its HEAD row and its PHOT epochs (separator rows removed)."""

    snid: int
    ra: float
    dec: float
    head: dict[str, object]  # HEAD column name -> Python scalar (strings stripped)
    epoch: np.ndarray  # index of each epoch inside the object's PHOT block (stable ids)
    mjd: np.ndarray  # float64
    band: np.ndarray  # str, stripped
    photflag: np.ndarray  # int
    flux: np.ndarray  # FLUXCAL, float32
    flux_err: np.ndarray  # FLUXCALERR, float32

    @property
    def detected(self) -> np.ndarray:
        return (self.photflag & DETECTION_BIT) != 0


@dataclass(frozen=True)
class Simulation:
    prefix: Path
    name: str  # file prefix without directory: recorded as diaObject.simVersion where the schema has it
    light_curves: list[LightCurve]
    max_epochs: int  # longest PHOT block of any object in the files (sizes the diaSourceId scheme)


def _open_table(path: Path, required: tuple[str, ...]):
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            # astropy warns (on stderr) before raising on a corrupt file; the one-line error is enough.
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdus:
                if len(hdus) < 2 or not hasattr(hdus[1], "columns"):
                    raise UserError(f"{path}: no binary table in HDU 1 (not an SNANA FITS file)")
                data = hdus[1].data
                names = tuple(data.columns.names)
                missing = [c for c in required if c not in names]
                if missing:
                    raise UserError(f"{path}: missing column(s) {', '.join(missing)} (not an SNANA file?)")
                columns = {name: np.asarray(data[name]) for name in names}
                rows = len(data)
    except UserError:
        raise
    except (OSError, ValueError, EOFError, TypeError, KeyError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: cannot read FITS table: {reason}") from exc
    return names, columns, rows


def _scalar(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        value = value.strip()
    return value


def read_snana(prefix: str | Path, *, max_objects: int | None = None) -> Simulation:
    """Read HEAD and PHOT; `max_objects` keeps the first N objects of HEAD (file order)."""
    prefix = resolve_prefix(prefix)
    head_path = Path(str(prefix) + HEAD_SUFFIX)
    phot_path = Path(str(prefix) + PHOT_SUFFIX)
    head_names, head, n_objects = _open_table(head_path, _HEAD_REQUIRED)
    _, phot, n_rows = _open_table(phot_path, _PHOT_REQUIRED)

    mjd_all = phot["MJD"].astype(np.float64)
    band_all = np.char.strip(phot["BAND"].astype(str))
    flag_all = phot["PHOTFLAG"].astype(np.int64)
    flux_all = phot["FLUXCAL"].astype(np.float32)
    err_all = phot["FLUXCALERR"].astype(np.float32)

    light_curves: list[LightCurve] = []
    max_epochs = 0
    seen: set[int] = set()
    for row in range(n_objects):
        snid_text = _scalar(head["SNID"][row])
        try:
            snid = int(snid_text)
        except (TypeError, ValueError):
            raise UserError(f"{head_path}: row {row + 1}: SNID {snid_text!r} is not an integer") from None
        if snid in seen:
            raise UserError(f"{head_path}: row {row + 1}: SNID {snid} appears twice")
        seen.add(snid)
        lo, hi = int(head["PTROBS_MIN"][row]) - 1, int(head["PTROBS_MAX"][row])
        if lo < 0 or hi > n_rows or hi < lo:
            raise UserError(
                f"{head_path}: row {row + 1} (SNID {snid}): PTROBS {lo + 1}..{hi} outside {phot_path.name} "
                f"(1..{n_rows})"
            )
        max_epochs = max(max_epochs, hi - lo)
        if max_objects is not None and len(light_curves) >= max_objects:
            continue
        block = slice(lo, hi)
        keep = (band_all[block] != "-") & (mjd_all[block] >= 0)
        light_curves.append(
            LightCurve(
                snid=snid,
                ra=float(head["RA"][row]),
                dec=float(head["DEC"][row]),
                head={name: _scalar(head[name][row]) for name in head_names},
                epoch=np.nonzero(keep)[0],
                mjd=mjd_all[block][keep],
                band=band_all[block][keep],
                photflag=flag_all[block][keep],
                flux=flux_all[block][keep],
                flux_err=err_all[block][keep],
            )
        )
    return Simulation(prefix=prefix, name=prefix.name, light_curves=light_curves, max_epochs=max_epochs)
