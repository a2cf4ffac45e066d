"""Wire time of reading the meter's history (its load profile), per day, at 9600 baud.

    scripts/run python scripts/history_cost.py [--days N]

Starts the simulated meter paced at 9600 baud 8N1 (`MeterSimulator(pace=True)`, with the MEP
port's 25 ms pause per 117 bytes), gives it a load profile of N days, and reads those days
with the integration's reader, newest first, in pieces of one response each. Prints, per link
and profile: requests, bytes on the wire (both directions), the wire-time floor and the
measured time, per day of history; and what the integration's own spacing adds (it waits
`REQUEST_SPACING` = 1 s between history requests so that polls keep their turn).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.polls import recorded_link

from custom_components.nes_echelon.nes_client.client import MeterClient
from custom_components.nes_echelon.nes_client.connection import open_stream
from custom_components.nes_echelon.nes_client.history import LoadProfileReader
from custom_components.nes_echelon.nes_client.stream import ByteStream
from nes_echelon_dev.simulator import MeterSimulator, SimulatedMeter
from nes_echelon_dev.simulator.load_profile import ProfileSetConfig, SimulatedLoadProfile

BITS_PER_BYTE = 10
BAUD = 9600
SPACING = 1.0  # history.REQUEST_SPACING
START = datetime(2026, 3, 1, tzinfo=UTC)

PROFILES = {
    "15 min, import + export": ProfileSetConfig(15, (0, 1), blocks=40),
    "60 min, import + export": ProfileSetConfig(60, (0, 1), blocks=40, intervals_per_block=24),
    "15 min, import + export + 2 tiers x 2": ProfileSetConfig(
        15, (0, 1, 29, 30, 40, 41), blocks=40
    ),
}


def wire_bytes(stream: ByteStream) -> int:
    return stream.bytes_sent + stream.bytes_received


async def measure(link_kind: str, config: ProfileSetConfig, days: int) -> dict[str, float]:
    profile = SimulatedLoadProfile([config], start=START)
    meter = SimulatedMeter(load_profile=profile)
    meter.advance(days * 86400 + 600)
    sim = MeterSimulator(meter, link=link_kind, pace=True)  # type: ignore[arg-type]
    host, port = await sim.serve_tcp()
    reader, writer = await open_stream(f"socket://{host}:{port}")
    # The link make_link would build, on a stream of our own: its byte counters are public.
    link, stream = recorded_link(link_kind, reader, writer, meter.key)
    client = MeterClient(link)
    await client.connect()
    history = LoadProfileReader(client)
    data_set = (await history.configuration()).sets[0]
    start_bytes, start_requests, start = wire_bytes(stream), history.requests, time.perf_counter()
    readings = await history.read_all(
        data_set, START + timedelta(minutes=1), START + timedelta(days=days)
    )
    elapsed = time.perf_counter() - start
    used = wire_bytes(stream) - start_bytes
    requests = history.requests - start_requests
    await client.close()
    await sim.close()
    assert len(readings) == days * 86400 // (config.interval_time * 60)
    return {
        "requests": requests / days,
        "bytes": used / days,
        "floor": used * BITS_PER_BYTE / BAUD / days,
        "measured": elapsed / days,
        "spaced": (elapsed + requests * SPACING) / days,
        "max_read": link.max_read,
    }


async def main(days: int) -> None:
    print(f"Reading {days} day(s) of history at {BAUD} baud (per day of history):")
    print(
        f"{'link':8} {'profile':40} {'max_read':>8} {'requests':>9} {'bytes':>7} "
        f"{'floor s':>8} {'measured s':>11} {'with 1 s spacing':>17}"
    )
    for link_kind in ("optical", "mep"):
        for name, config in PROFILES.items():
            result = await measure(link_kind, config, days)
            print(
                f"{link_kind:8} {name:40} {result['max_read']:8.0f} {result['requests']:9.1f} "
                f"{result['bytes']:7.0f} {result['floor']:8.2f} {result['measured']:11.2f} "
                f"{result['spaced']:17.1f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=2, help="days of history to read")
    asyncio.run(main(parser.parse_args().days))
