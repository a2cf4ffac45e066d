"""The meter's PSEM table service, shared by both simulated ports."""

from __future__ import annotations

from custom_components.nes_echelon.nes_client import psem
from custom_components.nes_echelon.nes_client.optical_frame import table_checksum

from .meter import OPEN_TABLES, SimulatedMeter

INSUFFICIENT_CLEARANCE = bytes([0x03])
SERVICE_NOT_SUPPORTED = bytes([0x02])
ERROR = bytes([0x01])
INAPPROPRIATE = bytes([0x05])


def serve_read(
    meter: SimulatedMeter, request: bytes, *, authenticated: bool, checksum: bool
) -> bytes:
    """Answer a full (0x30) or partial (0x3F) read the way the meter does."""
    if len(request) < 3:
        return ERROR
    table_id = int.from_bytes(request[1:3], "big")
    table = meter.table(table_id)
    if table is None:
        return INAPPROPRIATE
    if not authenticated and table_id not in OPEN_TABLES:
        return INSUFFICIENT_CLEARANCE
    if request[0] == psem.FULL_READ:
        data = table
    elif request[0] == psem.PARTIAL_READ and len(request) >= 8:
        offset = int.from_bytes(request[3:6], "big")
        count = int.from_bytes(request[6:8], "big")
        # Past the end reads zeros without error [OPT p.9].
        data = table[offset : offset + count].ljust(count, b"\x00")
    else:
        return ERROR
    reply = bytes([psem.OK]) + len(data).to_bytes(2, "big") + data
    return reply + bytes([table_checksum(data)]) if checksum else reply
