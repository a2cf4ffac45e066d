"""Bytes and time per poll, per link, against the simulator paced at 9600 baud.

    scripts/run python scripts/benchmark.py [--polls N]

Prints, for each link: bytes on the wire per poll (both directions), the wire-time floor at
9600 baud 8N1, the measured poll time and their ratio, and what the same values cost with a
whole-table plan (BT23 13-byte partial read + BT28 read whole, as the ESP32 MEP module does).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import statistics
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.nes_echelon.nes_client import psem
from custom_components.nes_echelon.nes_client.client import MeterClient, PollOptions
from custom_components.nes_echelon.nes_client.connection import make_link, open_stream
from custom_components.nes_echelon.nes_client.plan import split_range
from custom_components.nes_echelon.nes_client.simulator import MeterSimulator
from custom_components.nes_echelon.nes_client.stream import ByteStream

BITS_PER_BYTE = 10
BAUD = 9600


def wire_bytes(stream: ByteStream) -> int:
    return stream.bytes_sent + stream.bytes_received


async def measure(link_kind: str, polls: int, options: PollOptions) -> dict[str, float]:
    sim = MeterSimulator(link=link_kind, pace=True)  # type: ignore[arg-type]
    host, port = await sim.serve_tcp()
    reader, writer = await open_stream(f"socket://{host}:{port}")
    link = make_link(link_kind, reader, writer, sim.meter.key)
    stream: ByteStream = link._stream  # type: ignore[attr-defined]
    client = MeterClient(link, options=options)
    await client.connect()
    before_session = wire_bytes(stream)
    plan_bytes, plan_times = [], []
    for _ in range(polls):
        start_bytes, start = wire_bytes(stream), time.perf_counter()
        await client.read()
        plan_times.append(time.perf_counter() - start)
        plan_bytes.append(wire_bytes(stream) - start_bytes)
    # The same values read the whole-table way.
    dims = client.identity.dimensions  # type: ignore[union-attr]
    whole_bytes = []
    for _ in range(polls):
        start_bytes = wire_bytes(stream)
        psem.read_data(
            await link.request(psem.partial_read(23, 0, 13)), checksum=link.read_has_checksum
        )
        if link.kind == "mep":
            request = psem.full_read(28, mep_length=psem.MEP_FULL_READ_LENGTH)
            psem.read_data(await link.request(request), checksum=False)
        else:  # a 220-byte full read does not fit optical packets: the same bytes in chunks
            for offset, count in split_range(0, dims.bt28_size, link.max_read):
                psem.read_data(
                    await link.request(psem.partial_read(28, offset, count)), checksum=True
                )
        whole_bytes.append(wire_bytes(stream) - start_bytes)
    await client.close()
    await sim.close()
    poll_bytes = statistics.median(plan_bytes)
    return {
        "connect_bytes": before_session,
        "poll_bytes": poll_bytes,
        "floor_s": poll_bytes * BITS_PER_BYTE / BAUD,
        "poll_s": statistics.median(plan_times),
        "whole_bytes": statistics.median(whole_bytes),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=5)
    args = parser.parse_args()
    print(f"9600 baud 8N1 pacing, median of {args.polls} polls, simulator on 127.0.0.1")
    header = (
        f"{'link':8} {'plan':18} {'bytes/poll':>10} {'floor s':>8} {'poll s':>7} "
        f"{'ratio':>6} {'whole-table bytes':>18} {'saving':>7}"
    )
    print(header)
    for kind in ("optical", "mep"):
        for label, options in (
            ("totals+present", PollOptions(tiers=False, per_phase=False)),
            ("+per-phase", PollOptions(tiers=False, per_phase=True)),
            ("+per-phase+4 tiers", PollOptions(tiers=True, per_phase=True)),
        ):
            r = await measure(kind, args.polls, options)
            saving = 1 - r["poll_bytes"] / r["whole_bytes"]
            print(
                f"{kind:8} {label:18} {r['poll_bytes']:>10.0f} {r['floor_s']:>8.3f} "
                f"{r['poll_s']:>7.3f} {r['poll_s'] / r['floor_s']:>6.2f} "
                f"{r['whole_bytes']:>18.0f} {saving:>7.0%}"
            )
        print(f"{kind:8} connect (session, identity): {r['connect_bytes']:.0f} bytes")


if __name__ == "__main__":
    asyncio.run(main())
