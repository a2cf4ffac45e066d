"""Constants of the NES/Echelon Smart Meter integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "nes_echelon"
NAME: Final = "NES/Echelon Smart Meter"
MANUFACTURER: Final = "NES/Echelon"

# Connection data (entry.data). "port" is a key HA's usb integration recognises as a port.
CONF_PORT: Final = "port"
CONF_LINK: Final = "link"
CONF_KEY: Final = "key"

LINK_OPTICAL: Final = "optical"
LINK_MEP: Final = "mep"

# Options (entry.options)
CONF_SCAN_INTERVAL: Final = "scan_interval"
CONF_STATUS_INTERVAL: Final = "status_interval"
CONF_TIMEOUT: Final = "timeout"

DEFAULT_SCAN_INTERVAL: Final = 10  # seconds
MIN_SCAN_INTERVAL: Final = 3  # a poll is 2-3 reads; the MEP guide asks for <= 1 read/s on average
DEFAULT_STATUS_INTERVAL: Final = 300  # alarms, tier and clock
MIN_STATUS_INTERVAL: Final = 60
MIN_TIMEOUT: Final = 0.5
MAX_TIMEOUT: Final = 10.0

# Entity keys (unique id = meter serial number + "_" + key). A present-value sensor's key is
# its nes_client key (a PresentValues field), so none of those is repeated here.
KEY_ENERGY_IMPORT: Final = "energy_import"
KEY_ENERGY_EXPORT: Final = "energy_export"
KEY_REACTIVE_ENERGY_IMPORT: Final = "reactive_energy_import"
KEY_REACTIVE_ENERGY_EXPORT: Final = "reactive_energy_export"
KEY_POWER: Final = "power"  # net: import minus export
KEY_TIER: Final = "tier"  # the tier in force
KEY_LAST_READ: Final = "last_read"
KEY_CLOCK_DRIFT: Final = "clock_drift"
ENERGY_KEYS: Final = (KEY_ENERGY_IMPORT, KEY_ENERGY_EXPORT)
REACTIVE_ENERGY_KEYS: Final = (KEY_REACTIVE_ENERGY_IMPORT, KEY_REACTIVE_ENERGY_EXPORT)

MAX_TIERS: Final = 8  # NES meters have 1, 4 or 8 tiers (the client refuses more)


def tier_key(tier: int) -> str:
    """The tier as the meter's display names it (1 = tier block 0): the tariff sensor's state."""
    return f"tier_{tier}"


def tier_energy_key(tier: int, key: str) -> str:
    """The key of one tier's energy register: ``key`` (KEY_ENERGY_IMPORT ...) of tier ``tier``
    (1-based, as tier_key)."""
    return f"{tier_key(tier)}_{key}"


TIER_ENERGY_KEYS: Final = frozenset(
    tier_energy_key(tier, key) for tier in range(1, MAX_TIERS + 1) for key in ENERGY_KEYS
)
