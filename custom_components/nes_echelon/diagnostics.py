"""Diagnostics: the entry, the meter's identity, its last reading and its load profile.

Personal data is redacted: the key, the meter's serial number (the entry's unique id; it also
names the entry and the device, so it is taken out of every text) and a network port's host.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_KEY, CONF_PORT
from .history import backfill_diagnostics
from .nes_client.connection import redact_port
from .runtime import NesEchelonConfigEntry

TO_REDACT = {CONF_KEY, "serial_number", "unique_id"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: NesEchelonConfigEntry
) -> dict[str, Any]:
    coordinator = entry.runtime_data.coordinator
    identity = coordinator.identity
    data = coordinator.data
    entry_data = dict(entry.data) | {CONF_PORT: redact_port_host(entry.data[CONF_PORT])}
    diagnostics = {
        "entry": {
            "data": entry_data,
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
        # The load profile (history/): sets, channels and sources, interval, depth in days.
        "load_profile": backfill_diagnostics(entry.runtime_data.history),
    }
    serials = {
        serial
        for serial in (entry.unique_id, identity.serial_number if identity else None)
        if serial
    }
    redacted: dict[str, Any] = _without(async_redact_data(diagnostics, TO_REDACT), serials)
    return redacted


def redact_port_host(port: str) -> str:
    """A network port without its host (and user name or secrets), its scheme, port number and
    path kept: socket://192.168.1.5:2000 -> socket://**REDACTED**:2000. A device path is
    returned as it is (a /dev/serial/by-id name identifies the adapter, not the home)."""
    port = redact_port(port)  # a password or key in the URL
    scheme, separator, rest = port.partition("://")
    if not separator:
        return port
    end = min((index for char in "/?#" if (index := rest.find(char)) >= 0), default=len(rest))
    location, tail = rest[:end], rest[end:]
    host_port = location.rpartition("@")[2]
    if host_port.startswith("["):  # IPv6: [address]:port
        number = host_port.partition("]")[2].removeprefix(":")
    else:
        number = host_port.partition(":")[2]
    return f"{scheme}://{REDACTED}{':' + number if number else ''}{tail}"


def _without(value: Any, secrets: set[str]) -> Any:
    """`value` with every text that holds a secret (a title, an identifier) redacted in it."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _without(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without(item, secrets) for item in value]
    return value
