"""Source ids [MEP p.203-207]: which register a load-profile channel logs."""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_IMPORT_WH = 0
SOURCE_EXPORT_WH = 1
SOURCE_IMPORT_VARH = 2
SOURCE_EXPORT_VARH = 3
SOURCE_FWD_PLUS_REV_WH = 6
SOURCE_FWD_MINUS_REV_WH = 7
TIER_SOURCE_BASE = 29  # tier t's forward Wh = 29 + 11 t, reverse Wh = 30 + 11 t (tiers 0-3)
TIER_SOURCE_STRIDE = 11
TIER_SOURCE_TIERS = 4
MAPPED_SOURCES = range(112, 164)  # resolved through ET66; not interpreted here


@dataclass(frozen=True, slots=True)
class EnergySource:
    """An energy counter a channel may log: ``tier`` None for the total, else 0-based."""

    direction: str  # "import" or "export"
    tier: int | None = None


def energy_source(source: int) -> EnergySource | None:
    """The import/export Wh counter behind a source id, or None for anything else."""
    if source == SOURCE_IMPORT_WH:
        return EnergySource("import")
    if source == SOURCE_EXPORT_WH:
        return EnergySource("export")
    offset = source - TIER_SOURCE_BASE
    if 0 <= offset < TIER_SOURCE_STRIDE * TIER_SOURCE_TIERS:
        tier, kind = divmod(offset, TIER_SOURCE_STRIDE)
        if kind == 0:
            return EnergySource("import", tier)
        if kind == 1:
            return EnergySource("export", tier)
    return None


def source_name(source: int) -> str:
    """A short English label for diagnostics."""
    names = {
        SOURCE_IMPORT_WH: "import Wh",
        SOURCE_EXPORT_WH: "export Wh",
        SOURCE_IMPORT_VARH: "import varh",
        SOURCE_EXPORT_VARH: "export varh",
        SOURCE_FWD_PLUS_REV_WH: "import+export Wh",
        SOURCE_FWD_MINUS_REV_WH: "import-export Wh",
    }
    if source in names:
        return names[source]
    energy = energy_source(source)
    if energy is not None and energy.tier is not None:
        return f"tier {energy.tier + 1} {energy.direction} Wh"
    if source in MAPPED_SOURCES:
        return f"mapped source {source} (ET66)"
    return f"source {source}"
