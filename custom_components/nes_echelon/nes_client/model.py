"""What one reading of the meter gives, in SI units, ready for any consumer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .tables import (
    ActualRegister,
    Alarms,
    FirmwareVersion,
    PresentSlot,
    PresentValues,
    available_present_slots,
)

REACTIVE_SUMMATIONS = 4  # summations 2-3: import/export varh


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """Read once per connection: who the meter is and where its values live."""

    serial_number: str  # ET03 utility serial number: the meter's unique id
    manufacturer: str
    model: str
    firmware: FirmwareVersion
    dimensions: ActualRegister
    phases: int  # 1 or 3: L2/L3 voltage slots read as zero on a single-phase meter

    @property
    def present_slots(self) -> tuple[PresentSlot, ...]:
        """The present values (BT28 slots) this meter has: within BT21's slot count, not newer
        than its firmware, of a phase it has."""
        return available_present_slots(self.dimensions, self.firmware, phases=self.phases)

    @property
    def present_keys(self) -> frozenset[str]:
        """The keys (PresentValues fields) of the present values this meter has."""
        return frozenset(spec.key for spec in self.present_slots)

    @property
    def has_reactive_energy(self) -> bool:
        """Whether BT23 has the import/export varh summations (2 and 3)."""
        return self.dimensions.summations >= REACTIVE_SUMMATIONS

    @property
    def tiers(self) -> int:
        """How many tier (TOU) register blocks the meter keeps besides the total; 0: none."""
        return self.dimensions.tiers


@dataclass(frozen=True, slots=True)
class EnergyRegisters:
    """One BT23 block's summations 0-3 (Wh, varh). None: the meter has no such summation."""

    import_wh: int
    export_wh: int
    reactive_import_varh: int | None = None
    reactive_export_varh: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One poll: energy totals, per-tier registers (tier 0 first) and present values."""

    total: EnergyRegisters
    present: PresentValues
    tiers: tuple[EnergyRegisters, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _jsonable(asdict(self))
        return result


@dataclass(frozen=True, slots=True)
class MeterStatus:
    """Read every few minutes: alarms (BT03), tier in force (BT55, 0-based), clock (BT52, UTC)."""

    alarms: Alarms | None
    current_tier: int | None
    clock: datetime | None

    @property
    def tier_number(self) -> int | None:
        """The tier in force as the meter's display names it: 1 for tier block 0."""
        return None if self.current_tier is None else self.current_tier + 1

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _jsonable(asdict(self))
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
