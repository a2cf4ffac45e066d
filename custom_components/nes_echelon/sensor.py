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

from .const import (
    ENERGY_KEYS,
    KEY_CLOCK_DRIFT,
    KEY_LAST_READ,
    KEY_POWER,
    KEY_TIER,
    MAX_TIERS,
    REACTIVE_ENERGY_KEYS,
    tier_energy_key,
    tier_key,
)
from .coordinator import MeterData, NesEchelonCoordinator
from .entity import NesEchelonEntity
from .nes_client import MeterIdentity
from .runtime import NesEchelonConfigEntry

PARALLEL_UPDATES = 0  # the coordinator does all I/O


@dataclass(frozen=True, kw_only=True)
class NesSensorDescription(SensorEntityDescription):
    """A meter value: where it comes from, whether this meter has it, what a poll must read.

    Left out, the three describe the present value named by ``key`` (a PresentValues field):
    ``value_fn`` shows it, ``exists_fn`` makes the entity only where the meter has it
    (``MeterIdentity.present_keys``) and ``needs`` has it read while the entity is enabled.
    """

    value_fn: Callable[[MeterData], StateType | datetime] | None = None
    exists_fn: Callable[[MeterIdentity], bool] | None = None
    needs: frozenset[str] | None = None
    """The values a poll reads for this entity (PresentValues keys; tier energy keys)."""
    write_on_change: bool = False  # see NesEchelonEntity._write_on_change

    def value(self, data: MeterData) -> StateType | datetime:
        if self.value_fn is not None:
            return self.value_fn(data)
        value: StateType = getattr(data.snapshot.present, self.key)
        return value

    def exists(self, identity: MeterIdentity) -> bool:
        if self.exists_fn is not None:
            return self.exists_fn(identity)
        return self.key in identity.present_keys

    @property
    def needed(self) -> frozenset[str]:
        return frozenset({self.key}) if self.needs is None else self.needs


def _always(_: MeterIdentity) -> bool:
    return True


def _energy(key: str) -> Callable[[MeterData], StateType]:
    return lambda data: data.energy.get(key)


def _net_power(data: MeterData) -> StateType:
    present = data.snapshot.present
    if present.power_import is None or present.power_export is None:
        return None
    return present.power_import - present.power_export


def _has_net_power(identity: MeterIdentity) -> bool:
    return {"power_import", "power_export"} <= identity.present_keys


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
        exists_fn=_always,
        write_on_change=True,
    )
    for key in ENERGY_KEYS
)

POWER_SENSORS: tuple[NesSensorDescription, ...] = (
    NesSensorDescription(
        key="power_import",
        translation_key="power_import",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
    ),
    NesSensorDescription(
        key="power_export",
        translation_key="power_export",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
    ),
    NesSensorDescription(
        key=KEY_POWER,
        translation_key=KEY_POWER,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=_net_power,
        exists_fn=_has_net_power,
        needs=frozenset({"power_import", "power_export"}),
    ),
    NesSensorDescription(
        key="frequency",
        translation_key="frequency",
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
    ),
    NesSensorDescription(
        key="reactive_import",
        translation_key="reactive_import",
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        entity_registry_enabled_default=False,
    ),
    NesSensorDescription(
        key="reactive_export",
        translation_key="reactive_export",
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        entity_registry_enabled_default=False,
    ),
    NesSensorDescription(
        key="apparent_power",
        translation_key="apparent_power",
        device_class=SensorDeviceClass.APPARENT_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        entity_registry_enabled_default=False,
    ),
    NesSensorDescription(
        key="neutral_current",
        translation_key="neutral_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
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
        ),
        NesSensorDescription(
            key=f"current{suffix}",
            translation_key=f"current{suffix}",
            device_class=SensorDeviceClass.CURRENT,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
            suggested_display_precision=2,
            entity_registry_enabled_default=phase == 1,
        ),
        NesSensorDescription(
            key=f"power_factor{suffix}",
            translation_key=f"power_factor{suffix}",
            device_class=SensorDeviceClass.POWER_FACTOR,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=3,
            entity_registry_enabled_default=False,
        ),
        *(
            NesSensorDescription(
                key=f"power_{direction}{suffix}",
                translation_key=f"power_{direction}{suffix}",
                device_class=SensorDeviceClass.POWER,
                state_class=SensorStateClass.MEASUREMENT,
                native_unit_of_measurement=UnitOfPower.WATT,
                entity_registry_enabled_default=False,
            )
            for direction in ("import", "export")
        ),
    )


def _has_reactive_energy(identity: MeterIdentity) -> bool:
    return identity.has_reactive_energy


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
        exists_fn=_has_reactive_energy,
    )
    for key in REACTIVE_ENERGY_KEYS
)

TIER_OPTIONS = [tier_key(tier) for tier in range(1, MAX_TIERS + 1)]


def _tier_in_force(data: MeterData) -> StateType:
    if data.status is None or data.status.tier_number is None:
        return None
    option = tier_key(data.status.tier_number)
    return option if option in TIER_OPTIONS else None


def _has_tiers(identity: MeterIdentity) -> bool:
    return identity.tiers > 0


TARIFF_SENSOR = NesSensorDescription(
    key=KEY_TIER,
    translation_key=KEY_TIER,
    device_class=SensorDeviceClass.ENUM,
    options=TIER_OPTIONS,
    value_fn=_tier_in_force,
    write_on_change=True,
    exists_fn=_has_tiers,
    needs=frozenset(),  # the status read, not the poll
)


def tier_sensors(identity: MeterIdentity, data: MeterData) -> list[NesSensorDescription]:
    """Import and export energy per tier the meter reports ("Tier 1" is tier block 0).

    Enabled by default only where the meter uses more than one tier: a single-tier meter's
    tier registers repeat the totals.
    """
    in_use = sum(1 for tier in data.snapshot.tiers if tier.import_wh or tier.export_wh)
    return [
        NesSensorDescription(
            key=tier_energy_key(tier, key),
            translation_key=f"tier_{key}",
            translation_placeholders={"tier": str(tier)},
            device_class=SensorDeviceClass.ENERGY,
            state_class=SensorStateClass.TOTAL_INCREASING,
            native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
            suggested_display_precision=3,
            entity_registry_enabled_default=in_use > 1,
            value_fn=_energy(tier_energy_key(tier, key)),
            exists_fn=_always,
            write_on_change=True,
        )
        for tier in range(1, min(identity.tiers, MAX_TIERS) + 1)
        for key in ENERGY_KEYS
    ]


DIAGNOSTIC_SENSORS: tuple[NesSensorDescription, ...] = (
    NesSensorDescription(
        key=KEY_LAST_READ,
        translation_key=KEY_LAST_READ,
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.read_at,
        exists_fn=_always,
        needs=frozenset(),
    ),
    NesSensorDescription(
        key=KEY_CLOCK_DRIFT,
        translation_key=KEY_CLOCK_DRIFT,
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_clock_drift,
        exists_fn=_always,
        needs=frozenset(),
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
    descriptions = [d for d in SENSORS if d.exists(identity)]
    descriptions += tier_sensors(identity, coordinator.data)
    async_add_entities(NesEchelonSensor(coordinator, d) for d in descriptions)


class NesEchelonSensor(NesEchelonEntity, SensorEntity):
    entity_description: NesSensorDescription

    def __init__(
        self, coordinator: NesEchelonCoordinator, description: NesSensorDescription
    ) -> None:
        super().__init__(coordinator, description, needs=description.needed)
        self._write_on_change = description.write_on_change

    @property
    def _value(self) -> object:
        return self.native_value

    @property
    def native_value(self) -> StateType | datetime:
        return self.entity_description.value(self.coordinator.data)
