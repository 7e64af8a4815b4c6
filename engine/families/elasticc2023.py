"""The 2023 ELAsTiCC stream: gzipped schemaless Avro written with schema `elasticc.v0_9_1.alert` (no cutouts)."""

from __future__ import annotations

from .elasticc import ElasticcFamily


class Elasticc2023(ElasticcFamily):
    name = "elasticc2023"

    def matches_schema(self, name: str) -> bool:
        return name.startswith("elasticc.") and name.endswith(".alert") and name != "elasticc.v0_9.alert"

    def matches_record(self, record: dict) -> bool:
        return super().matches_record(record) and "cutoutDifference" not in record


FAMILY = Elasticc2023()
