"""The meter's own alarms (BT03) as binary sensors."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined]
    # Not re-exported explicitly (it lives in .const), but Home Assistant 2026.5 has no .const
    # module: the package is where every release we support has it.
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import NesEchelonEntity
from .runtime import NesEchelonConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NesAlarmDescription(BinarySensorEntityDescription):
    """One BT03 alarm flag; `key` is the Alarms field name."""

    three_phase_only: bool = False


ALARMS: tuple[NesAlarmDescription, ...] = (
    NesAlarmDescription(
        key="power_failure",
        translation_key="power_failure",
        device_class=BinarySensorDeviceClass.PROBLEM,
    ),
    NesAlarmDescription(
        key="cover_removed",
        translation_key="cover_removed",
        device_class=BinarySensorDeviceClass.TAMPER,
    ),
    NesAlarmDescription(
        key="magnetic_tamper",
        translation_key="magnetic_tamper",
        device_class=BinarySensorDeviceClass.TAMPER,
    ),
    NesAlarmDescription(
        key="reverse_energy",
        translation_key="reverse_energy",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_registry_enabled_default=False,
    ),
    NesAlarmDescription(
        key="phase_loss",
        translation_key="phase_loss",
        device_class=BinarySensorDeviceClass.PROBLEM,
        three_phase_only=True,
    ),
    NesAlarmDescription(
        key="phase_inversion",
        translation_key="phase_inversion",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_registry_enabled_default=False,
        three_phase_only=True,
    ),
    NesAlarmDescription(
        key="clock_error",
        translation_key="clock_error",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
    NesAlarmDescription(
        key="measurement_error",
        translation_key="measurement_error",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    NesAlarmDescription(
        key="key_expiration_pending",
        translation_key="key_expiration_pending",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    NesAlarmDescription(
        key="invalid_password",
        translation_key="invalid_password",
        device_class=BinarySensorDeviceClass.SAFETY,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NesEchelonConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    assert coordinator.identity is not None
    phases = coordinator.identity.phases
    async_add_entities(
        NesEchelonAlarm(coordinator, description)
        for description in ALARMS
        if phases == 3 or not description.three_phase_only
    )


class NesEchelonAlarm(NesEchelonEntity, BinarySensorEntity):
    entity_description: NesAlarmDescription
    _write_on_change = True  # read at the status interval only

    @property
    def _value(self) -> object:
        return self.is_on

    @property
    def is_on(self) -> bool | None:
        status = self.coordinator.data.status
        if status is None or status.alarms is None:
            return None  # the key may lack rights to BT03, or it was not read yet
        value: bool = getattr(status.alarms, self.entity_description.key)
        return value
