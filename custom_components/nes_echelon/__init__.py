"""The NES/Echelon Smart Meter integration: a meter read over its optical or MEP port."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady, HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN
from .coordinator import NesEchelonCoordinator, energy_store
from .history import HistoryBackfill, history_store
from .runtime import NesEchelonConfigEntry, NesEchelonData
from .services import async_setup_services

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions (once, for every meter)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: NesEchelonConfigEntry) -> bool:
    """Connect to the meter, read it once, then create its entities."""
    # The coordinator closes the port on unload itself (its async_shutdown).
    coordinator = NesEchelonCoordinator(hass, entry)
    await first_refresh(coordinator)
    history = HistoryBackfill(hass, coordinator)
    entry.runtime_data = NesEchelonData(coordinator, history)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # After the entities exist: fill gaps in their statistics from the meter's load profile.
    entry.async_on_unload(history.async_stop)
    await history.async_start()
    return True


async def first_refresh(coordinator: NesEchelonCoordinator) -> None:
    """The coordinator's first refresh, with the reason for a retry translated on every release.

    Home Assistant 2026.5 raises ConfigEntryNotReady without the failed update's translation, so
    the entry showed a bare "Failed setup, will retry"; later releases carry it over themselves.
    """
    try:
        await coordinator.async_config_entry_first_refresh()
    except ConfigEntryNotReady as err:
        cause = err.__cause__
        if err.translation_key is not None or not isinstance(cause, HomeAssistantError):
            raise
        raise ConfigEntryNotReady(
            translation_domain=cause.translation_domain,
            translation_key=cause.translation_key,
            translation_placeholders=cause.translation_placeholders,
        ) from cause


async def async_unload_entry(hass: HomeAssistant, entry: NesEchelonConfigEntry) -> bool:
    """Remove the entities and close the port."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: NesEchelonConfigEntry) -> None:
    """Forget what was kept for the entry: the last published energy values, and the history's
    last read and pending jobs."""
    await energy_store(hass, entry.entry_id).async_remove()
    await history_store(hass, entry.entry_id).async_remove()
