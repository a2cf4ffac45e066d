"""BT28 Present Register Data: the instantaneous values [OPT p.53-57; MEP p.215-220].

Layout: BT21.8 present-demand records (a 3-byte TIME if BT21.0.6, then an INT32), then BT21.9
INT32 slots; slot n at (T + 4) * BT21.8 + 4 * n (MEP p.216 prints "+ Present Value Number",
dropping the 4; the [CAP] capture, 40 bytes for slots 0-9 at offset 0, confirms 4 * n).
Values do not include CT/VT ratios unless the slot says so; W/var/PF keep the sign as read
(the guides specify none; captures show magnitudes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._common import FirmwareVersion, decode_int32_le, encode_int32_le
from .registers import ActualRegister

_INT32 = 4
_MILLI = 0.001

FW_3_10 = FirmwareVersion(3, 10)
FW_3_50 = FirmwareVersion(3, 50)
FW_3_70 = FirmwareVersion(3, 70)
FW_4_00 = FirmwareVersion(4, 0)


@dataclass(frozen=True, slots=True)
class PresentSlot:
    """One BT28 slot we read: ``value = raw * scale`` in SI units.

    ``min_firmware``: the first firmware with the slot (the "fields added in" notes of the
    guides); None where the guides give none. ``phase``: 1-3 for a value of one phase (the
    ``_l1``/``_l2``/``_l3`` keys), which a meter with fewer phases does not have; None for a
    value of the whole meter.
    """

    key: str
    slot: int
    scale: float
    min_firmware: FirmwareVersion | None = None
    phase: int | None = None


PRESENT_SLOTS: tuple[PresentSlot, ...] = (
    PresentSlot("power_import", 0, 1.0),  # W, L1L2L3 forward
    PresentSlot("power_export", 1, 1.0),  # W, L1L2L3 reverse
    PresentSlot("reactive_import", 2, 1.0),  # var
    PresentSlot("reactive_export", 3, 1.0),  # var
    PresentSlot("current_l1", 4, _MILLI, phase=1),  # mA -> A
    PresentSlot("current_l2", 5, _MILLI, phase=2),
    PresentSlot("current_l3", 6, _MILLI, phase=3),
    PresentSlot("voltage_l1", 7, _MILLI, phase=1),  # mV -> V
    PresentSlot("voltage_l2", 8, _MILLI, phase=2),
    PresentSlot("voltage_l3", 9, _MILLI, phase=3),
    PresentSlot("power_factor_l1", 10, _MILLI, phase=1),  # 1/1000
    PresentSlot("frequency", 11, _MILLI),  # mHz -> Hz
    PresentSlot("apparent_power", 12, 1.0),  # VA
    PresentSlot("power_factor_l2", 13, _MILLI, phase=2),
    PresentSlot("power_factor_l3", 14, _MILLI, phase=3),
    PresentSlot("sin_phi_l1", 15, _MILLI, phase=1),  # sin(phase angle), 1/1000
    PresentSlot("sin_phi_l2", 16, _MILLI, phase=2),
    PresentSlot("sin_phi_l3", 17, _MILLI, phase=3),
    PresentSlot("reactive_q1", 22, 1.0, FW_3_10),  # var per quadrant
    PresentSlot("reactive_q2", 23, 1.0, FW_3_10),
    PresentSlot("reactive_q3", 24, 1.0, FW_3_10),
    PresentSlot("reactive_q4", 25, 1.0, FW_3_10),
    PresentSlot("power_import_l1", 26, 1.0, FW_3_50, phase=1),  # W per phase
    PresentSlot("power_import_l2", 27, 1.0, FW_3_50, phase=2),
    PresentSlot("power_import_l3", 28, 1.0, FW_3_50, phase=3),
    PresentSlot("power_export_l1", 29, 1.0, FW_3_50, phase=1),
    PresentSlot("power_export_l2", 30, 1.0, FW_3_50, phase=2),
    PresentSlot("power_export_l3", 31, 1.0, FW_3_50, phase=3),
    PresentSlot("voltage_avg_l1", 44, _MILLI, FW_3_70, phase=1),  # mV -> V, averaged
    PresentSlot("voltage_avg_l2", 45, _MILLI, FW_3_70, phase=2),
    PresentSlot("voltage_avg_l3", 46, _MILLI, FW_3_70, phase=3),
    PresentSlot("power_import_avg", 47, 1.0, FW_3_70),  # W, averaged
    PresentSlot("power_export_avg", 48, 1.0, FW_3_70),
    PresentSlot("neutral_current", 71, _MILLI, FW_4_00),  # mA -> A
)


@dataclass(frozen=True, slots=True)
class PresentValues:
    """One value per PRESENT_SLOTS key, SI units; None = the meter has no such value."""

    power_import: float | None = None
    power_export: float | None = None
    reactive_import: float | None = None
    reactive_export: float | None = None
    current_l1: float | None = None
    current_l2: float | None = None
    current_l3: float | None = None
    voltage_l1: float | None = None
    voltage_l2: float | None = None
    voltage_l3: float | None = None
    power_factor_l1: float | None = None
    frequency: float | None = None
    apparent_power: float | None = None
    power_factor_l2: float | None = None
    power_factor_l3: float | None = None
    sin_phi_l1: float | None = None
    sin_phi_l2: float | None = None
    sin_phi_l3: float | None = None
    reactive_q1: float | None = None
    reactive_q2: float | None = None
    reactive_q3: float | None = None
    reactive_q4: float | None = None
    power_import_l1: float | None = None
    power_import_l2: float | None = None
    power_import_l3: float | None = None
    power_export_l1: float | None = None
    power_export_l2: float | None = None
    power_export_l3: float | None = None
    voltage_avg_l1: float | None = None
    voltage_avg_l2: float | None = None
    voltage_avg_l3: float | None = None
    power_import_avg: float | None = None
    power_export_avg: float | None = None
    neutral_current: float | None = None


PRESENT_KEYS: frozenset[str] = frozenset(spec.key for spec in PRESENT_SLOTS)


def slot_available(
    spec: PresentSlot, ar: ActualRegister, firmware: FirmwareVersion, *, phases: int = 3
) -> bool:
    """Whether the meter has this slot: within BT21's count, not gated by firmware, and of a
    phase the meter has."""
    if spec.slot >= ar.present_values:
        return False
    if spec.phase is not None and spec.phase > phases:
        return False
    return spec.min_firmware is None or firmware >= spec.min_firmware


def available_present_slots(
    ar: ActualRegister, firmware: FirmwareVersion, *, phases: int = 3
) -> tuple[PresentSlot, ...]:
    """The slots of PRESENT_SLOTS this meter has (see slot_available)."""
    return tuple(
        spec for spec in PRESENT_SLOTS if slot_available(spec, ar, firmware, phases=phases)
    )


def _scaled(raw: int, scale: float) -> float:
    """``raw * scale``, as a division when the scale is 1/n (598 mA -> 0.598, not 0.5980…01)."""
    if scale == 1.0:
        return float(raw)
    divisor = round(1.0 / scale)
    if divisor != 0 and divisor * scale == 1.0:
        return raw / divisor
    return raw * scale


def decode_present_values(
    ar: ActualRegister, firmware: FirmwareVersion, raw_slots: Mapping[int, int]
) -> PresentValues:
    """Scale the raw slot values; a slot beyond BT21's count, newer than the firmware, or not
    read (missing from ``raw_slots``) gives None."""
    values: dict[str, float | None] = {}
    for spec in PRESENT_SLOTS:
        raw = raw_slots.get(spec.slot)
        if raw is None or not slot_available(spec, ar, firmware):
            values[spec.key] = None
        else:
            values[spec.key] = _scaled(raw, spec.scale)
    return PresentValues(**values)


def bt28_read_span(ar: ActualRegister, slots: Iterable[int]) -> tuple[int, int] | None:
    """(offset, count) of one partial BT28 read covering ``slots`` that the meter has;
    None when it has none of them."""
    present = [slot for slot in slots if 0 <= slot < ar.present_values]
    if not present:
        return None
    first, last = min(present), max(present)
    return ar.bt28_present_demand_size + first * _INT32, (last - first + 1) * _INT32


def decode_bt28_slots(ar: ActualRegister, data: bytes, *, offset: int = 0) -> dict[int, int]:
    """The slots wholly inside ``data`` = BT28 from table offset ``offset`` (0: a full read).

    Bytes of present-demand records and anything past BT21's slot count are skipped. Data
    that starts or ends inside a slot is a truncated read: ValueError.
    """
    if offset < 0:
        raise ValueError(f"negative BT28 offset {offset}")
    base = ar.bt28_present_demand_size
    end = offset + len(data)
    if offset > base and (offset - base) % _INT32 and offset < ar.bt28_size:
        raise ValueError(f"BT28 data from offset {offset} starts inside a slot")
    if base < end < ar.bt28_size and (end - base) % _INT32:
        raise ValueError(f"BT28 data ends inside a slot (offset {offset}, {len(data)} bytes)")
    first = max(0, -(-(offset - base) // _INT32))  # first slot starting at or after offset
    last = min(ar.present_values, (end - base) // _INT32)  # exclusive
    return {
        slot: decode_int32_le(data, base + slot * _INT32 - offset) for slot in range(first, last)
    }


def encode_bt28(ar: ActualRegister, slots: Mapping[int, int]) -> bytes:
    """The whole of BT28 (``ar.bt28_size`` bytes): present demands 0, missing slots 0."""
    out = bytearray(ar.bt28_size)
    for slot, value in slots.items():
        offset = ar.bt28_slot_offset(slot)
        if offset is None:
            raise ValueError(f"slot {slot} is beyond BT21's {ar.present_values} present values")
        out[offset : offset + _INT32] = encode_int32_le(value)
    return bytes(out)
