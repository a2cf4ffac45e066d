"""A simulated NES/Echelon meter: both ports, byte for byte, on the client's own codecs."""

from __future__ import annotations

from .faults import Faults
from .meter import PhaseLoad, SimulatedMeter
from .server import MeterSimulator

__all__ = ["Faults", "MeterSimulator", "PhaseLoad", "SimulatedMeter"]
