"""What a loaded entry holds (`entry.runtime_data`): its coordinator and its history backfill.

A module of its own so that everything can import it and nothing imports it back: the
coordinator knows nothing of the history, the history knows the coordinator.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .coordinator import NesEchelonCoordinator
from .history import HistoryBackfill


@dataclass(frozen=True, slots=True)
class NesEchelonData:
    coordinator: NesEchelonCoordinator
    history: HistoryBackfill


type NesEchelonConfigEntry = ConfigEntry[NesEchelonData]
