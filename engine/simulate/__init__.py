"""Make ELAsTiCC alert batches (NITE<n>.tar.gz) from an SNANA simulation.

snana.py reads the FITS pair, visits.py times each epoch inside its night, alerts.py builds and
encodes the records for a given schema (record_fill.py fills each record, head_fields.py maps
HEAD columns), alert_file.py makes the bytes of one alert file, batch.py writes the tarballs
(entry point: `simulate`).
"""

from .batch import (
    NightWritten,
    SimulationPlanned,
    SimulationReport,
    alerts_dir,
    parse_nights,
    simulate,
)
from .snana import bundled_snana_prefix

__all__ = [
    "NightWritten",
    "SimulationPlanned",
    "SimulationReport",
    "alerts_dir",
    "bundled_snana_prefix",
    "parse_nights",
    "simulate",
]
