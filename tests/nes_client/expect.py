"""What a client must report for a simulated meter, worked out from the meter's own model."""

from __future__ import annotations

from dataclasses import asdict, fields

from custom_components.nes_echelon.nes_client.model import EnergyRegisters, Snapshot
from custom_components.nes_echelon.nes_client.tables import PRESENT_SLOTS, PresentValues
from nes_echelon_dev.simulator import SimulatedMeter

# A meter of fewer phases has none of the other phases' values (sim: 1 or 3 phases).
PHASE_SUFFIXES = {1: "_l1", 2: "_l2", 3: "_l3"}


def registers(meter: SimulatedMeter, block: int = 0) -> EnergyRegisters:
    """Block 0 = the total, 1.. = tier 0..: import/export Wh, import/export varh."""
    return EnergyRegisters(*meter.registers(block))


def tiers(meter: SimulatedMeter) -> tuple[EnergyRegisters, ...]:
    return tuple(registers(meter, block) for block in range(1, 1 + meter.tiers))


def present(
    meter: SimulatedMeter, *, wanted: frozenset[str] | None = None
) -> dict[str, float | None]:
    """Every PresentValues field: the meter's value where the meter has it (BT21's slot count,
    the slot's first firmware, the meter's phases) and a poll wants it (None: all), else None.
    Slots the simulator leaves out read as 0."""
    count = meter.dimensions.present_values
    raw = meter.present_slots()
    values: dict[str, float | None] = {}
    for spec in PRESENT_SLOTS:
        phase = next((n for n, suffix in PHASE_SUFFIXES.items() if spec.key.endswith(suffix)), 0)
        if spec.slot >= count or phase > meter.phases:
            continue
        if spec.min_firmware is not None and meter.firmware < spec.min_firmware:
            continue
        if wanted is not None and spec.key not in wanted:
            continue
        divisor = round(1 / spec.scale)
        value = raw.get(spec.slot, 0)
        values[spec.key] = value / divisor if divisor != 1 else float(value)
    return {item.name: values.get(item.name) for item in fields(PresentValues)}


def assert_snapshot(
    snapshot: Snapshot,
    meter: SimulatedMeter,
    *,
    with_tiers: bool = True,
    present_keys: frozenset[str] | None = None,
) -> None:
    """The snapshot carries exactly the meter's registers and the present values asked for."""
    assert snapshot.total == registers(meter, 0)
    assert snapshot.tiers == (tiers(meter) if with_tiers else ())
    assert asdict(snapshot.present) == present(meter, wanted=present_keys)
