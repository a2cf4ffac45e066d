"""Constants of the NES/Echelon Smart Meter integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "nes_echelon"
NAME: Final = "NES/Echelon Smart Meter"
MANUFACTURER: Final = "NES/Echelon"
