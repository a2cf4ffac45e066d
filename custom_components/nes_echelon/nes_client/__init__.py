"""A pure-Python client for NES/Echelon (OSGP) electricity meters.

Optical (IR) port: ANSI C12.18 with the meter key as password. MEP port: length-prefixed
packets signed with the OMA digest. Both carry the same C12.19 tables. No Home Assistant here.
"""

from __future__ import annotations

from .client import MeterClient, PollOptions
from .connection import LinkKind, connect, make_link, open_stream
from .digest import digest
from .errors import (
    AuthenticationFailed,
    InsufficientClearance,
    IntegrityError,
    InvalidKeyFormat,
    LinkError,
    NesError,
    NoResponse,
    PortMissing,
    PsemError,
    UnsupportedMeter,
    error_key,
)
from .keys import parse_key
from .model import EnergyRegisters, MeterIdentity, MeterStatus, Snapshot

__all__ = [
    "AuthenticationFailed",
    "EnergyRegisters",
    "InsufficientClearance",
    "IntegrityError",
    "InvalidKeyFormat",
    "LinkError",
    "LinkKind",
    "MeterClient",
    "MeterIdentity",
    "MeterStatus",
    "NesError",
    "NoResponse",
    "PollOptions",
    "PortMissing",
    "PsemError",
    "Snapshot",
    "UnsupportedMeter",
    "connect",
    "digest",
    "error_key",
    "make_link",
    "open_stream",
    "parse_key",
]
