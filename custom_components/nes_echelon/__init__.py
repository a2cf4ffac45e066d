"""The NES/Echelon Smart Meter integration: a meter read over its optical or MEP port."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .coordinator import NesEchelonConfigEntry, NesEchelonCoordinator

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: NesEchelonConfigEntry) -> bool:
    """Connect to the meter, read it once, then create its entities."""
    coordinator = NesEchelonCoordinator(hass, entry)
    entry.async_on_unload(coordinator.async_close)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: NesEchelonConfigEntry) -> bool:
    """Remove the entities and close the port."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
