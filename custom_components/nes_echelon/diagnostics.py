"""Diagnostics: the entry (key redacted), the meter's identity and its last reading."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_KEY
from .coordinator import NesEchelonConfigEntry

TO_REDACT = {CONF_KEY}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: NesEchelonConfigEntry
) -> dict[str, Any]:
    coordinator = entry.runtime_data
    identity = coordinator.identity
    data = coordinator.data
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
            "unique_id": entry.unique_id,
        },
        "meter": None
        if identity is None
        else {
            "serial_number": identity.serial_number,
            "manufacturer": identity.manufacturer,
            "model": identity.model,
            "firmware": str(identity.firmware),
            "phases": identity.phases,
            "dimensions": asdict(identity.dimensions),
        },
        "last_update_success": coordinator.last_update_success,
        "snapshot": None if data is None else data.snapshot.as_dict(),
        "status": None if data is None or data.status is None else data.status.as_dict(),
        "published_energy": None if data is None else data.energy,
        # The load profile (history.py): sets, channels and sources, interval, depth in days.
        "load_profile": None if coordinator.history is None else coordinator.history.diagnostics(),
    }
