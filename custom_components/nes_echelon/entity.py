"""The base of every entity: one device per meter, values from the coordinator."""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import NesEchelonCoordinator


class NesEchelonEntity(CoordinatorEntity[NesEchelonCoordinator]):
    """An entity of the meter's device, unique by meter serial number and key."""

    _attr_has_entity_name = True
    _write_on_change = False
    """Write the state only when it (or availability) changed, not at every poll: for values
    that move only with consumption (energy registers: the tiers not in force are not even
    re-read) or that are read every few minutes (alarms, tariff, clock). Power and the time of
    the last read are written at every poll: helpers such as the Riemann sum count on that."""

    def __init__(
        self,
        coordinator: NesEchelonCoordinator,
        description: EntityDescription,
        *,
        needs: frozenset[str] = frozenset(),
    ) -> None:
        # The values a poll must read for this entity: the coordinator reads what the entities
        # it has (the enabled ones) need, from their contexts (async_contexts).
        super().__init__(coordinator, context=needs)
        self._written: tuple[bool, object] | None = None
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

    @property
    def _value(self) -> object:
        """What the state is made of (the platform's native value)."""
        raise NotImplementedError

    @callback
    def _handle_coordinator_update(self) -> None:
        if self._write_on_change:
            current = (self.available, self._value)
            if current == self._written:
                return  # each state write costs Home Assistant's event loop ~50 us
            self._written = current
        super()._handle_coordinator_update()
