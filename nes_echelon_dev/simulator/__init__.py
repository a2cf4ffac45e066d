"""A simulated NES/Echelon meter: both ports, byte for byte, on the client's own codecs."""

from __future__ import annotations

from .faults import Faults
from .household import HouseholdProfile
from .load_profile import ProfileSetConfig, SimulatedLoadProfile
from .meter import PhaseLoad, SimulatedMeter
from .server import MeterSimulator

__all__ = [
    "Faults",
    "HouseholdProfile",
    "MeterSimulator",
    "PhaseLoad",
    "ProfileSetConfig",
    "SimulatedLoadProfile",
    "SimulatedMeter",
]
