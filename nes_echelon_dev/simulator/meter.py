"""The simulated meter: its identity, registers and present values, as C12.19 tables."""

from __future__ import annotations

import cmath
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
import math

from custom_components.nes_echelon.nes_client import tables
from custom_components.nes_echelon.nes_client.tables import ActualRegister, Alarms, FirmwareVersion

from .load_profile import SimulatedLoadProfile

OPEN_TABLES = frozenset({tables.BT00, tables.BT01, tables.ET03})  # readable without a key
SUMMATIONS = 11
ENERGY_SUMMATIONS = 4


def present_value_count(firmware: FirmwareVersion) -> int:
    """How many BT28 slots a meter of this firmware reports (spec §6 slot list)."""
    if firmware >= FirmwareVersion(4, 0, 0):
        return 72
    if firmware >= FirmwareVersion(3, 70, 0):
        return 55
    if firmware >= FirmwareVersion(3, 50, 0):
        return 32
    if firmware >= FirmwareVersion(3, 10, 0):
        return 26
    return 18


NEUTRAL_CURRENT_SLOT = 71  # mA; firmware 4.00 and later


@dataclass
class PhaseLoad:
    """What one phase carries now. Import and export are magnitudes; one of them is 0."""

    voltage: float = 230.0
    import_w: float = 0.0
    export_w: float = 0.0
    power_factor: float = 0.98
    reactive_var: float = 0.0

    @property
    def current(self) -> float:
        power = self.import_w or self.export_w
        return power / (self.voltage * self.power_factor) if self.voltage and power else 0.0


def _neutral_current(loads: list[PhaseLoad]) -> float:
    """The neutral carries the phasor sum of the phase currents, not their plain sum: phases
    are 120 degrees apart, so a balanced load's currents cancel there and only the imbalance
    returns. Each current lags its voltage by its power-factor angle; an exporting phase's
    current flows the other way (180 degrees)."""
    total = 0j
    for phase, load in enumerate(loads):
        angle = -2 * math.pi * phase / 3 - math.acos(load.power_factor)
        if load.export_w:
            angle += math.pi
        total += cmath.rect(load.current, angle)
    return abs(total)


def _default_loads() -> list[PhaseLoad]:
    return [
        PhaseLoad(voltage=231.392, import_w=650.0, reactive_var=40.0),
        PhaseLoad(voltage=233.137, import_w=420.0, reactive_var=25.0),
        PhaseLoad(voltage=230.613, import_w=0.0, export_w=310.0, reactive_var=10.0),
    ]


@dataclass
class SimulatedMeter:
    """One meter model. Energy grows only when `advance()` is called, so tests stay exact."""

    key: bytes = b"0123456789ABCDEFGHIJ"
    serial_number: str = "0710123456"
    manufacturer: str = "NES"
    model: str = "83331-3I"
    firmware: FirmwareVersion = field(default_factory=lambda: FirmwareVersion(3, 80, 5))
    phases: int = 3
    tiers: int = 4
    demand_layout: bool = False  # a demand-enabled BT21, so offsets move (MEP p.49 example)
    loads: list[PhaseLoad] = field(default_factory=_default_loads)
    frequency: float = 50.012
    current_tier: int = 0
    clock_drift: timedelta = timedelta(0)
    alarms: Alarms = field(default_factory=Alarms)
    # energy[block][summation]: block 0 = total, 1..tiers; summations 0-3 in Wh / varh
    energy: list[list[float]] = field(default_factory=list)
    # BT61-BT67 and ET21; None: the meter keeps no load profile (those reads are refused)
    load_profile: SimulatedLoadProfile | None = None

    def __post_init__(self) -> None:
        if self.phases == 1:
            self.loads = [self.loads[0], PhaseLoad(voltage=0.0), PhaseLoad(voltage=0.0)]
        if not self.energy:
            base = [33_821_691.0, 1_739_085.0, 4_210_339.0, 912_004.0]
            self.energy = [base[:]] + [[0.0] * ENERGY_SUMMATIONS for _ in range(self.tiers)]
            if self.tiers:
                share = [0.6, 0.4] if self.tiers > 1 else [1.0]
                for tier, part in enumerate(share):
                    self.energy[1 + tier] = [value * part for value in base]

    # -- behaviour -------------------------------------------------------------------------

    @property
    def dimensions(self) -> ActualRegister:
        count = present_value_count(self.firmware)
        if self.demand_layout:
            return ActualRegister(
                flags=0x3F, flags2=0x0E, self_reads=12, summations=15, demands=8,
                coincident_values=0, occurrences=1, tiers=self.tiers, present_demands=8,
                present_values=count,
            )  # fmt: skip
        return ActualRegister(
            flags=0, flags2=0, self_reads=0, summations=SUMMATIONS, demands=0,
            coincident_values=0, occurrences=0, tiers=self.tiers, present_demands=0,
            present_values=count,
        )  # fmt: skip

    def advance(self, seconds: float) -> None:
        """Let time pass: the registers of the total and of the tier in force grow (and the
        load profile, if any, records each interval end it passes)."""
        if self.load_profile is not None:
            self.load_profile.advance(self, seconds, self._accrue)
        else:
            self._accrue(seconds)

    def _accrue(self, seconds: float) -> None:
        hours = seconds / 3600
        imported = sum(load.import_w for load in self.loads) * hours
        exported = sum(load.export_w for load in self.loads) * hours
        reactive = sum(load.reactive_var for load in self.loads) * hours
        blocks = [0] + ([1 + self.current_tier] if self.tiers else [])
        for block in blocks:
            values = self.energy[block]
            values[0] += imported
            values[1] += exported
            values[2] += reactive
        if exported and self.tiers:
            self.alarms = replace(self.alarms, reverse_energy=True)

    def reset_counters(self) -> None:
        """A register reset, as after a meter replacement or a utility action."""
        self.energy = [[0.0] * ENERGY_SUMMATIONS for _ in range(1 + self.tiers)]

    def registers(self, block: int = 0) -> tuple[int, ...]:
        """Whole Wh/varh as the meter reports them."""
        return tuple(int(value) for value in self.energy[block])

    def present_slots(self) -> dict[int, int]:
        """BT28 slot values in the meter's units (W, var, mA, mV, 1/1000, mHz, VA)."""
        loads = self.loads
        slots: dict[int, int] = {
            0: round(sum(load.import_w for load in loads)),
            1: round(sum(load.export_w for load in loads)),
            2: round(sum(load.reactive_var for load in loads if load.import_w)),
            3: round(sum(load.reactive_var for load in loads if load.export_w)),
            11: round(self.frequency * 1000),
            12: round(sum(load.voltage * load.current for load in loads)),
        }
        for phase, load in enumerate(loads):
            slots[4 + phase] = round(load.current * 1000)
            slots[7 + phase] = round(load.voltage * 1000)
            slots[26 + phase] = round(load.import_w)
            slots[29 + phase] = round(load.export_w)
            slots[15 + phase] = round(
                (1 - load.power_factor**2) ** 0.5 * 1000 if load.voltage else 0
            )
        slots[10] = round(loads[0].power_factor * 1000)
        slots[13] = round(loads[1].power_factor * 1000) if loads[1].voltage else 0
        slots[14] = round(loads[2].power_factor * 1000) if loads[2].voltage else 0
        if self.dimensions.present_values > NEUTRAL_CURRENT_SLOT:
            slots[NEUTRAL_CURRENT_SLOT] = round(_neutral_current(loads) * 1000)
        return slots

    def clock(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.clock_drift

    # -- tables ----------------------------------------------------------------------------

    def table(self, table_id: int) -> bytes | None:
        """The whole table as the meter would send it, or None if it has no such table."""
        if self.load_profile is not None and (data := self.load_profile.table(table_id)):
            return data
        dims = self.dimensions
        match table_id:
            case tables.BT00:
                return tables.encode_general_config(
                    tables.GeneralConfig(
                        little_endian=True,
                        ni_format=0x88,
                        manufacturer=self.manufacturer,
                        manufacturer_status_length=6,
                    )
                )
            case tables.BT01:
                return tables.encode_manufacturer_identification(
                    tables.ManufacturerIdentification(
                        manufacturer=self.manufacturer,
                        model=self.model,
                        firmware=self.firmware,
                        hardware_version=3,
                        hardware_revision=1,
                        serial=_bcd_digits(self.serial_number),
                    )
                )
            case tables.BT03:
                return tables.encode_alarms(self.alarms)
            case tables.BT21:
                return tables.encode_actual_register(dims)
            case tables.BT23:
                blocks = [
                    [int(v) for v in values] + [0] * (dims.summations - ENERGY_SUMMATIONS)
                    for values in self.energy
                ]
                return tables.encode_bt23(dims, blocks)
            case tables.BT28:
                slots = {s: v for s, v in self.present_slots().items() if s < dims.present_values}
                return tables.encode_bt28(dims, slots)
            case tables.BT52:
                return tables.encode_clock(self.clock())
            case tables.BT55:
                return tables.encode_local_clock(self.clock(), self.current_tier)
            case tables.ET03:
                return tables.encode_utility_information(self.serial_number)
        return None


def _bcd_digits(serial: str) -> str:
    """BT01 holds the manufacturer serial as 16 BCD digits."""
    digits = "".join(c for c in serial if c.isdigit())
    return digits[-16:].zfill(16)
