"""Sensors: energy registers for the Energy dashboard, present values, diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactiveEnergy,
    UnitOfReactivePower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .coordinator import MeterData, NesEchelonCoordinator
from .entity import NesEchelonEntity
from .nes_client import MeterIdentity
from .nes_client.tables import PRESENT_SLOTS, slot_available
from .runtime import NesEchelonConfigEntry

PARALLEL_UPDATES = 0  # the coordinator does all I/O


@dataclass(frozen=True, kw_only=True)
class NesSensorDescription(SensorEntityDescription):
    """A meter value: where it comes from and whether this meter has it."""

    value_fn: Callable[[MeterData], StateType | datetime]
    exists_fn: Callable[[MeterIdentity], bool] = lambda _: True
    write_on_change: bool = False  # see NesEchelonEntity._write_on_change


def _present(key: str) -> Callable[[MeterData], StateType]:
    return lambda data: getattr(data.snapshot.present, key)


def _has_slot(key: str, phase: int | None = None) -> Callable[[MeterIdentity], bool]:
    spec = next(spec for spec in PRESENT_SLOTS if spec.key == key)

    def exists(identity: MeterIdentity) -> bool:
        if phase is not None and phase > identity.phases:
            return False
        return slot_available(spec, identity.dimensions, identity.firmware)

    return exists


def _energy(key: str) -> Callable[[MeterData], StateType]:
    return lambda data: data.energy.get(key)


def _net_power(data: MeterData) -> StateType:
    present = data.snapshot.present
    if present.power_import is None or present.power_export is None:
        return None
    return present.power_import - present.power_export


def _clock_drift(data: MeterData) -> StateType:
    return None if data.clock_drift is None else round(data.clock_drift)


ENERGY_SENSORS: tuple[NesSensorDescription, ...] = tuple(
    NesSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=_energy(key),
        write_on_change=True,
    )
    for key in ("energy_import", "energy_export")
)

POWER_SENSORS: tuple[NesSensorDescription, ...] = (
    NesSensorDescription(
        key="power_import",
        translation_key="power_import",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=_present("power_import"),
        exists_fn=_has_slot("power_import"),
    ),
    NesSensorDescription(
        key="power_export",
        translation_key="power_export",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=_present("power_export"),
        exists_fn=_has_slot("power_export"),
    ),
    NesSensorDescription(
        key="power",
        translation_key="power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=_net_power,
        exists_fn=_has_slot("power_export"),
    ),
    NesSensorDescription(
        key="frequency",
        translation_key="frequency",
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
        value_fn=_present("frequency"),
        exists_fn=_has_slot("frequency"),
    ),
    NesSensorDescription(
        key="reactive_import",
        translation_key="reactive_import",
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        entity_registry_enabled_default=False,
        value_fn=_present("reactive_import"),
        exists_fn=_has_slot("reactive_import"),
    ),
    NesSensorDescription(
        key="reactive_export",
        translation_key="reactive_export",
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        entity_registry_enabled_default=False,
        value_fn=_present("reactive_export"),
        exists_fn=_has_slot("reactive_export"),
    ),
    NesSensorDescription(
        key="apparent_power",
        translation_key="apparent_power",
        device_class=SensorDeviceClass.APPARENT_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        entity_registry_enabled_default=False,
        value_fn=_present("apparent_power"),
        exists_fn=_has_slot("apparent_power"),
    ),
)


def _phase_sensors(phase: int) -> tuple[NesSensorDescription, ...]:
    """Per-phase values: L1 voltage and current enabled, the rest disabled by default."""
    suffix = f"_l{phase}"
    return (
        NesSensorDescription(
            key=f"voltage{suffix}",
            translation_key=f"voltage{suffix}",
            device_class=SensorDeviceClass.VOLTAGE,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfElectricPotential.VOLT,
            suggested_display_precision=1,
            entity_registry_enabled_default=phase == 1,
            value_fn=_present(f"voltage{suffix}"),
            exists_fn=_has_slot(f"voltage{suffix}", phase),
        ),
        NesSensorDescription(
            key=f"current{suffix}",
            translation_key=f"current{suffix}",
            device_class=SensorDeviceClass.CURRENT,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
            suggested_display_precision=2,
            entity_registry_enabled_default=phase == 1,
            value_fn=_present(f"current{suffix}"),
            exists_fn=_has_slot(f"current{suffix}", phase),
        ),
        NesSensorDescription(
            key=f"power_factor{suffix}",
            translation_key=f"power_factor{suffix}",
            device_class=SensorDeviceClass.POWER_FACTOR,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=3,
            entity_registry_enabled_default=False,
            value_fn=_present(f"power_factor{suffix}"),
            exists_fn=_has_slot(f"power_factor{suffix}", phase),
        ),
        *(
            NesSensorDescription(
                key=f"power_{direction}{suffix}",
                translation_key=f"power_{direction}{suffix}",
                device_class=SensorDeviceClass.POWER,
                state_class=SensorStateClass.MEASUREMENT,
                native_unit_of_measurement=UnitOfPower.WATT,
                entity_registry_enabled_default=False,
                value_fn=_present(f"power_{direction}{suffix}"),
                exists_fn=_has_slot(f"power_{direction}{suffix}", phase),
            )
            for direction in ("import", "export")
        ),
    )


REACTIVE_ENERGY_SENSORS: tuple[NesSensorDescription, ...] = tuple(
    NesSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.REACTIVE_ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfReactiveEnergy.KILO_VOLT_AMPERE_REACTIVE_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
        value_fn=_energy(key),
        write_on_change=True,
        exists_fn=lambda identity: identity.dimensions.summations > 3,
    )
    for key in ("reactive_energy_import", "reactive_energy_export")
)

MAX_TIERS = 8
TIER_OPTIONS = [f"tier_{tier}" for tier in range(1, MAX_TIERS + 1)]


def _tier_in_force(data: MeterData) -> StateType:
    if data.status is None or data.status.current_tier is None:
        return None
    option = f"tier_{data.status.current_tier + 1}"
    return option if option in TIER_OPTIONS else None


TARIFF_SENSOR = NesSensorDescription(
    key="tier",
    translation_key="tier",
    device_class=SensorDeviceClass.ENUM,
    options=TIER_OPTIONS,
    value_fn=_tier_in_force,
    write_on_change=True,
    exists_fn=lambda identity: identity.dimensions.tiers > 0,
)


def tier_sensors(identity: MeterIdentity, data: MeterData) -> list[NesSensorDescription]:
    """Import and export energy per tier the meter reports ("Tier 1" is tier block 0).

    Enabled by default only where the meter uses more than one tier: a single-tier meter's
    tier registers repeat the totals.
    """
    in_use = sum(1 for tier in data.snapshot.tiers if tier.import_wh or tier.export_wh)
    return [
        NesSensorDescription(
            key=f"tier_{tier}_energy_{direction}",
            translation_key=f"tier_energy_{direction}",
            translation_placeholders={"tier": str(tier)},
            device_class=SensorDeviceClass.ENERGY,
            state_class=SensorStateClass.TOTAL_INCREASING,
            native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
            suggested_display_precision=3,
            entity_registry_enabled_default=in_use > 1,
            value_fn=_energy(f"tier_{tier}_energy_{direction}"),
            write_on_change=True,
        )
        for tier in range(1, len(data.snapshot.tiers) + 1)
        for direction in ("import", "export")
    ]


DIAGNOSTIC_SENSORS: tuple[NesSensorDescription, ...] = (
    NesSensorDescription(
        key="last_read",
        translation_key="last_read",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.read_at,
    ),
    NesSensorDescription(
        key="clock_drift",
        translation_key="clock_drift",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_clock_drift,
        write_on_change=True,
    ),
)

SENSORS: tuple[NesSensorDescription, ...] = (
    ENERGY_SENSORS
    + REACTIVE_ENERGY_SENSORS
    + (TARIFF_SENSOR,)
    + POWER_SENSORS
    + _phase_sensors(1)
    + _phase_sensors(2)
    + _phase_sensors(3)
    + DIAGNOSTIC_SENSORS
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NesEchelonConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    identity = coordinator.identity
    assert identity is not None
    descriptions = [d for d in SENSORS if d.exists_fn(identity)]
    descriptions += tier_sensors(identity, coordinator.data)
    async_add_entities(NesEchelonSensor(coordinator, d) for d in descriptions)


class NesEchelonSensor(NesEchelonEntity, SensorEntity):
    entity_description: NesSensorDescription

    def __init__(
        self, coordinator: NesEchelonCoordinator, description: NesSensorDescription
    ) -> None:
        super().__init__(coordinator, description)
        self._write_on_change = description.write_on_change

    @property
    def _value(self) -> object:
        return self.native_value

    @property
    def native_value(self) -> StateType | datetime:
        return self.entity_description.value_fn(self.coordinator.data)
