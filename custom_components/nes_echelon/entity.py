"""The base of every entity: one device per meter, values from the coordinator."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import NesEchelonCoordinator


class NesEchelonEntity(CoordinatorEntity[NesEchelonCoordinator]):
    """An entity of the meter's device, unique by meter serial number and key."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: NesEchelonCoordinator, description: EntityDescription) -> None:
        super().__init__(coordinator)
        identity = coordinator.identity
        assert identity is not None  # set by the first refresh, before platforms load
        self.entity_description = description
        self._attr_unique_id = f"{identity.serial_number}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, identity.serial_number)},
            manufacturer=identity.manufacturer or "NES/Echelon",
            model=identity.model,
            serial_number=identity.serial_number,
            sw_version=str(identity.firmware),
            name=f"{identity.manufacturer} {identity.model}".strip() or "NES/Echelon meter",
        )
