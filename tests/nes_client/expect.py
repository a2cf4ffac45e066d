"""What a client must report for a simulated meter, worked out from the meter's own model."""

from __future__ import annotations

from dataclasses import asdict, fields

from custom_components.nes_echelon.nes_client.model import EnergyRegisters, Snapshot
from custom_components.nes_echelon.nes_client.tables import FirmwareVersion, PresentValues
from nes_echelon_dev.simulator import SimulatedMeter

# BT28 slots a poll reads, with their names and divisors (spec §6 slot list).
BASE_SLOTS = {
    0: ("power_import", 1),
    1: ("power_export", 1),
    2: ("reactive_import", 1),
    3: ("reactive_export", 1),
    4: ("current_l1", 1000),
    5: ("current_l2", 1000),
    6: ("current_l3", 1000),
    7: ("voltage_l1", 1000),
    8: ("voltage_l2", 1000),
    9: ("voltage_l3", 1000),
    10: ("power_factor_l1", 1000),
    11: ("frequency", 1000),
    12: ("apparent_power", 1),
    13: ("power_factor_l2", 1000),
    14: ("power_factor_l3", 1000),
}
PER_PHASE_SLOTS = {
    26: ("power_import_l1", 1),
    27: ("power_import_l2", 1),
    28: ("power_import_l3", 1),
    29: ("power_export_l1", 1),
    30: ("power_export_l2", 1),
    31: ("power_export_l3", 1),
}
PER_PHASE_FIRMWARE = FirmwareVersion(3, 50)


def registers(meter: SimulatedMeter, block: int = 0) -> EnergyRegisters:
    """Block 0 = the total, 1.. = tier 0..: import/export Wh, import/export varh."""
    return EnergyRegisters(*meter.registers(block))


def tiers(meter: SimulatedMeter) -> tuple[EnergyRegisters, ...]:
    return tuple(registers(meter, block) for block in range(1, 1 + meter.tiers))


def present(meter: SimulatedMeter, *, per_phase: bool = True) -> dict[str, float | None]:
    """Every PresentValues field: the meter's value where a poll reads it, else None."""
    slots = dict(BASE_SLOTS)
    if per_phase and meter.firmware >= PER_PHASE_FIRMWARE:
        slots |= PER_PHASE_SLOTS
    count = meter.dimensions.present_values
    raw = meter.present_slots()
    values: dict[str, float | None] = {}
    for slot, (name, divisor) in slots.items():
        if slot < count:
            values[name] = raw[slot] / divisor if divisor != 1 else float(raw[slot])
    return {item.name: values.get(item.name) for item in fields(PresentValues)}


def assert_snapshot(
    snapshot: Snapshot, meter: SimulatedMeter, *, with_tiers: bool = True, per_phase: bool = True
) -> None:
    """The snapshot carries exactly the meter's registers and present values."""
    assert snapshot.total == registers(meter, 0)
    assert snapshot.tiers == (tiers(meter) if with_tiers else ())
    assert asdict(snapshot.present) == present(meter, per_phase=per_phase)
