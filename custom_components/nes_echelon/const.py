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
