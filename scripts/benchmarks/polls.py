"""The client against an in-process paced simulator: the runs the plan and wire sections print.

The link is built here from its public constructor on a `RecordingStream` (see recorder), so
every request is counted on the wire without touching the link's internals; "session per poll"
passes the optical link a clock that the bench moves on instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import time

from custom_components.nes_echelon.nes_client import psem, tables
from custom_components.nes_echelon.nes_client.client import MeterClient, PollOptions
from custom_components.nes_echelon.nes_client.connection import open_stream
from custom_components.nes_echelon.nes_client.keys import mep_key, optical_password
from custom_components.nes_echelon.nes_client.link import Link
from custom_components.nes_echelon.nes_client.mep import MepLink
from custom_components.nes_echelon.nes_client.optical import OpticalLink
from custom_components.nes_echelon.nes_client.plan import split_range
from nes_echelon_dev.simulator import MeterSimulator, SimulatedMeter

from .recorder import Exchange, RecordingStream

LINKS = ("optical", "mep")
POLL_GAP = 0.15


class ChangingMeter(SimulatedMeter):
    """Every read finds new values: more energy in BT23, other loads in BT28.

    So every poll changes every entity's state, the most work Home Assistant can have per poll.
    """

    def table(self, table_id: int) -> bytes | None:
        if table_id == tables.BT23:
            self.advance(10)
        elif table_id == tables.BT28:
            for load in self.loads:
                if load.import_w:
                    load.import_w = 100.0 + (load.import_w + 37.0) % 3000.0
                else:
                    load.export_w = 100.0 + (load.export_w + 53.0) % 3000.0
                load.voltage = 228.0 + (load.voltage + 0.7) % 6.0
            self.frequency = 49.95 + (self.frequency + 0.013) % 0.1
        return super().table(table_id)


@dataclass
class PollRun:
    link: str
    pattern: str
    entities: str
    connect: list[Exchange]
    first: list[Exchange]
    after_status: list[Exchange]
    polls: list[list[Exchange]]
    times: list[float]
    status: list[Exchange]
    status_time: float
    whole_table: list[Exchange] = field(default_factory=list)
    cycle: float = 0.0

    @property
    def poll(self) -> list[Exchange]:
        """A regular poll (the last one; all of them read the same)."""
        return self.polls[-1]

    @property
    def label(self) -> str:
        return ", ".join(part for part in (self.link, self.pattern, self.entities) if part)


# What the coordinator reads with the entities enabled by default (tier energy: this meter
# uses two tiers; per-phase power: disabled by default), and with every entity enabled.
DEFAULT_ENTITIES = PollOptions(
    present=frozenset({"power_import", "power_export", "current_l1", "voltage_l1"}), tiers=True
)
ALL_ENTITIES = PollOptions(present=None, tiers=True)


def recorded_link(
    kind: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    key: bytes,
    clock: Callable[[], float] | None = None,
) -> tuple[Link, RecordingStream]:
    """The link `make_link` would build, on a stream that records every exchange."""
    stream = RecordingStream(reader, writer, secret=key, kind=kind)
    if kind == "optical":
        return OpticalLink(stream, optical_password(key), clock=clock), stream
    return MepLink(stream, mep_key(key), clock=clock), stream


async def run_polls(
    link_kind: str,
    polls: int,
    *,
    options: PollOptions = DEFAULT_ENTITIES,
    session_per_poll: bool = False,
    cycle_polls: int = 0,
) -> PollRun:
    """Connect, the first poll with its status read, then `polls` regular polls.

    As the coordinator makes them, each a little apart (MEP's 100 ms request spacing after
    the previous poll has passed, as it has between polls seconds apart). Energy grows at every
    poll. session_per_poll (optical): polls more than 5 s apart, so each opens a new C12.18
    session (pattern (a)); the link's clock is moved on instead of waiting. cycle_polls: that
    many more polls back to back, start to start: the shortest interval the link sustains.
    """
    sim = MeterSimulator(ChangingMeter(), link_kind, pace=True)  # type: ignore[arg-type]
    host, port = await sim.serve_tcp()
    reader, writer = await open_stream(f"socket://{host}:{port}")
    skipped = 0.0
    clock = None
    if session_per_poll:
        loop_time = asyncio.get_running_loop().time

        def clock() -> float:
            return loop_time() + skipped

    link, recorder = recorded_link(link_kind, reader, writer, sim.meter.key, clock)
    client = MeterClient(link, options=options)
    try:
        with recorder.capture() as connect:
            await client.connect()
        with recorder.capture() as first:
            await client.read()
            await client.read_status()
        with recorder.capture() as after_status:
            await client.read()
        poll_exchanges: list[list[Exchange]] = []
        times: list[float] = []
        for _ in range(polls):
            await asyncio.sleep(POLL_GAP)
            skipped += 10.0
            with recorder.capture() as exchanges:
                start = time.perf_counter()
                await client.read()
                times.append(time.perf_counter() - start)
            poll_exchanges.append(exchanges)
        start = time.perf_counter()
        for _ in range(cycle_polls):
            await client.read()
        cycle = (time.perf_counter() - start) / max(1, cycle_polls)
        await asyncio.sleep(POLL_GAP)
        with recorder.capture() as status:
            start = time.perf_counter()
            await client.read_status()
            status_time = time.perf_counter() - start
        await asyncio.sleep(POLL_GAP)
        with recorder.capture() as whole:
            await read_whole_tables(client)
    finally:
        await client.close()
        await sim.close()
    return PollRun(
        link=link_kind,
        pattern="session per poll" if session_per_poll else "",
        entities="all entities" if options.present is None else "default entities",
        connect=connect,
        first=first,
        after_status=after_status,
        polls=poll_exchanges,
        times=times,
        status=status,
        status_time=status_time,
        whole_table=whole,
        cycle=cycle,
    )


async def read_whole_tables(client: MeterClient) -> None:
    """The same values the whole-table way: all of BT23 and all of BT28."""
    link = client.link
    dims = client.identity.dimensions  # type: ignore[union-attr]
    for table_id, size in ((tables.BT23, dims.bt23_size), (tables.BT28, dims.bt28_size)):
        if link.kind == "mep":  # one full read each (< 476 bytes)
            request = psem.full_read(table_id, mep_length=psem.MEP_FULL_READ_LENGTH)
            psem.read_data(await link.request(request), checksum=False)
            continue
        # Optical: a full read does not fit the negotiated packets; the same bytes in chunks.
        for offset, count in split_range(0, size, link.max_read):
            request = psem.partial_read(table_id, offset, count)
            psem.read_data(await link.request(request), checksum=True)
