"""The 2022 ELAsTiCC stream: Avro containers written with schema `elasticc.v0_9.alert` (cutouts included)."""

from __future__ import annotations

from .elasticc import ElasticcFamily


class Elasticc2022(ElasticcFamily):
    name = "elasticc2022"

    def matches_schema(self, name: str) -> bool:
        return name == "elasticc.v0_9.alert"

    def matches_record(self, record: dict) -> bool:
        # The 2023 schema dropped the cutouts: their presence is what tells the two streams' records apart.
        return super().matches_record(record) and "cutoutDifference" in record


FAMILY = Elasticc2022()
