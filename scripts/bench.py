"""Performance figures of the client and the integration, against the bundled simulator.

    scripts/bench [--polls 50] [--ha-polls 200] [--memory-polls 10000] [--only SECTION ...]

A benchmark, not a test: it prints figures and judges only the issue's goals. Sections:

  plan     the requests of a connection, the first refresh, a regular poll and a status read
  wire     bytes per regular poll, the wire-time floor, the measured poll time (median, p95),
           their ratio, and the shortest sustainable poll interval; simulator paced at 9600 baud
  setup    config entry to first states, against the paced simulator
  cpu      event-loop CPU per coordinator refresh inside a running Home Assistant
  memory   allocated blocks and RSS after 1,000 and after N refreshes in Home Assistant

The floor counts every byte on the wire in both directions at 10 bits per byte (9600 baud 8N1).
On MEP the meter also mandates gaps the bytes do not show: at most one request per 100 ms
(start to start) and a 25 ms pause after every 117 bytes of a reply [MEP p.21, p.51]. Those are
reported as a separate "meter floor"; the bytes-only floor never includes them.

The Home Assistant sections run a real Home Assistant core in this process (the test
harness's `async_test_home_assistant`, registries in memory) with the integration set up from a
config entry; the simulator runs in a child process, so the CPU measured is Home Assistant's.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import gc
import logging
import math
import os
from pathlib import Path
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any
import warnings

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# Home Assistant's start-up chatter is not a figure.
warnings.filterwarnings("ignore", message="install_as_voluptuous")
for name in ("homeassistant.loader", "aiohttp_fast_zlib"):
    logging.getLogger(name).setLevel(logging.ERROR)

from custom_components.nes_echelon.nes_client import mep, psem, tables  # noqa: E402
from custom_components.nes_echelon.nes_client.client import MeterClient, PollOptions  # noqa: E402
from custom_components.nes_echelon.nes_client.connection import make_link, open_stream  # noqa: E402
from custom_components.nes_echelon.nes_client.plan import split_range  # noqa: E402
from nes_echelon_dev.simulator import MeterSimulator, SimulatedMeter  # noqa: E402
from nes_echelon_dev.simulator.server import MEP_SEGMENT  # noqa: E402

BAUD = 9600
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
BYTE_TIME = BITS_PER_BYTE / BAUD
MEP_SEGMENT_PAUSE = 0.025
LINKS = ("optical", "mep")
POLL_GAP = 0.15
SECTIONS = ("plan", "wire", "setup", "cpu", "memory")

TABLE_NAMES = {tables.ET03: "ET03"}
SERVICE_NAMES = {
    psem.IDENTIFY: "Identification",
    psem.NEGOTIATE: "Negotiate",
    psem.LOGON: "Logon",
    psem.SECURITY: "Security",
    psem.LOGOFF: "Logoff",
    psem.TERMINATE: "Terminate",
}


# -- recording what goes over the wire ---------------------------------------------------------


@dataclass
class Exchange:
    """One request frame/packet and its response, as the link saw them."""

    request: bytes
    tx: int = 0
    rx: int = 0
    seconds: float = 0.0

    @property
    def wire_bytes(self) -> int:
        return self.tx + self.rx

    @property
    def wire_time(self) -> float:
        return self.wire_bytes * BYTE_TIME

    def describe(self) -> str:
        code = self.request[0]
        if code in (psem.PARTIAL_READ, psem.FULL_READ):
            table_id = int.from_bytes(self.request[1:3], "big")
            table = TABLE_NAMES.get(table_id, f"BT{table_id:02d}")
            if code == psem.FULL_READ:
                return f"{table} full read"
            offset = int.from_bytes(self.request[3:6], "big")
            count = int.from_bytes(self.request[6:8], "big")
            return f"{table} offset {offset:3d} count {count:3d}"
        return SERVICE_NAMES.get(code, f"service {code:#04x}")


class Recorder:
    """Wraps a link's `_exchange` so that every request on the wire is counted."""

    def __init__(self, link: Any) -> None:
        self.link = link
        self.stream = link._stream
        self.exchanges: list[Exchange] = []
        exchange = link._exchange

        async def recorded(request: bytes, *args: Any) -> bytes:
            record = Exchange(request=bytes(request[:8]))
            tx, rx = self.stream.bytes_sent, self.stream.bytes_received
            start = time.perf_counter()
            try:
                return await exchange(request, *args)  # type: ignore[no-any-return]
            finally:
                record.seconds = time.perf_counter() - start
                record.tx = self.stream.bytes_sent - tx
                record.rx = self.stream.bytes_received - rx
                self.exchanges.append(record)

        link._exchange = recorded

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[Exchange]]:
        """The exchanges made inside the block."""
        start = len(self.exchanges)
        captured: list[Exchange] = []
        try:
            yield captured
        finally:
            captured.extend(self.exchanges[start:])


def wire_floor(exchanges: list[Exchange]) -> float:
    """Seconds the bytes need at 9600 baud 8N1, both directions, nothing else."""
    return sum(e.wire_time for e in exchanges)


def meter_floor(exchanges: list[Exchange], link: str) -> float:
    """The wire floor plus the gaps the meter mandates (MEP only).

    MEP: a request starts no sooner than 100 ms after the previous one started, and every
    reply pauses 25 ms after each 117 bytes. Optical mandates no gap.
    """
    if link != "mep":
        return wire_floor(exchanges)
    total = 0.0
    for index, e in enumerate(exchanges):
        busy = e.wire_time + MEP_SEGMENT_PAUSE * max(0, (e.rx - 1) // MEP_SEGMENT)
        last = index == len(exchanges) - 1
        total += busy if last else max(mep.MIN_REQUEST_SPACING, busy)
    return total


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# -- the client against an in-process paced simulator ------------------------------------------


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
DEFAULT_ENTITIES = PollOptions(tiers=True, per_phase=False)
ALL_ENTITIES = PollOptions(tiers=True, per_phase=True)


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
    link = make_link(link_kind, reader, writer, sim.meter.key)
    skipped = 0.0
    if session_per_poll:
        loop_time = asyncio.get_running_loop().time
        link._clock = lambda: loop_time() + skipped  # type: ignore[attr-defined]
    recorder = Recorder(link)
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
        entities="all entities" if options.per_phase else "default entities",
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


def note(text: str) -> None:
    print(textwrap.fill(text, width=100, initial_indent="  ", subsequent_indent="  "))


def print_plan(run: PollRun, *, full: bool) -> None:
    def rows(title: str, exchanges: list[Exchange]) -> None:
        print(f"  {title}")
        for e in exchanges:
            print(
                f"    {e.describe():28} {e.tx:4d} B out {e.rx:4d} B in"
                f" {e.wire_time * 1000:6.1f} ms on the wire"
            )
        tx = sum(e.tx for e in exchanges)
        rx = sum(e.rx for e in exchanges)
        print(
            f"    {'total':28} {tx:4d} B out {rx:4d} B in"
            f" {wire_floor(exchanges) * 1000:6.1f} ms on the wire"
        )

    print(f"{run.label}:")
    if full:
        rows("connect: once per connection (session, identity and layout)", run.connect)
        rows("first poll and status read (the first refresh)", run.first)
        rows("first poll after a status read: every tier block", run.after_status)
    rows(f"regular poll ({len(run.polls)} alike)", run.poll)
    if full:
        rows("status read: every status interval (default 300 s)", run.status)
    tables_read = sorted({e.describe().split()[0] for p in run.polls for e in p})
    print(f"  tables read by the regular polls: {', '.join(tables_read)}")


def print_wire(runs: list[PollRun]) -> None:
    print(
        f"{'link':18} {'entities':8} {'out':>4} {'in':>4} {'floor':>6} {'meter':>6}"
        f" {'median':>6} {'p95':>6} {'ratio':>5} {'p95':>5} {'ratio':>6} {'whole':>6}"
    )
    print(
        f"{'':18} {'':8} {'B':>4} {'B':>4} {'ms':>6} {'floor':>6} {'ms':>6} {'ms':>6}"
        f" {'':>5} {'ratio':>5} {'bytes':>6} {'tables':>6}"
    )
    for run in runs:
        tx = statistics.median(sum(e.tx for e in p) for p in run.polls)
        rx = statistics.median(sum(e.rx for e in p) for p in run.polls)
        floor = wire_floor(run.poll)
        mfloor = meter_floor(run.poll, run.link)
        median = statistics.median(run.times)
        p95 = quantile(run.times, 0.95)
        whole = sum(e.wire_bytes for e in run.whole_table)
        link = run.link + (" (a)" if run.pattern else "")
        print(
            f"{link:18} {run.entities.split()[0]:8} {tx:4.0f} {rx:4.0f} {floor * 1000:6.1f}"
            f" {mfloor * 1000:6.1f} {median * 1000:6.1f} {p95 * 1000:6.1f}"
            f" {median / mfloor:5.2f} {p95 / mfloor:5.2f} {median / floor:6.2f} {whole:5d}B"
        )
    note(
        "out/in = bytes on the wire per poll, each direction. floor = those bytes at 10 bits"
        " each, 9600 baud. meter floor = floor + the gaps the meter mandates: on MEP the next"
        " request >= 100 ms after the previous one started and a 25 ms pause per 117 reply"
        " bytes (none on optical). ratio = median (p95) poll time / meter floor, goal <= 1.25;"
        " ratio bytes = median / floor. (a) = optical polls >= 5 s apart: a C12.18 session per"
        " poll. default = the entities enabled by default (tier energy: this meter uses two"
        " tiers; per-phase power off); all = every entity enabled (per-phase power: one more"
        " read). whole tables = the same values read as all of BT23 and BT28 (optical: in"
        " 108-byte chunks)."
    )


def print_interval(runs: list[PollRun]) -> None:
    print("== 4a. Shortest sustainable poll interval (paced at 9600 baud) ==")
    for run in runs:
        status = run.status_time * 1000
        if run.pattern:
            median = statistics.median(run.times)
            print(
                f"{run.link:8} a session per poll (intervals >= 5 s): {median * 1000:.0f} ms per"
                f" poll, session included; the line busy {median / 10:.1%} at the default 10 s"
            )
            continue
        reads = len(run.poll)
        line = (
            f"{run.link:8} {run.cycle * 1000:4.0f} ms per poll back to back, + {status:.0f} ms"
            " per status read"
        )
        if run.link == "optical":
            line += " (one session kept open for intervals < 5 s)"
        else:
            line += f"; the guide's <= 1 table read/s on average: >= {reads} s for {reads} reads"
        print(line)
    note(
        "Home Assistant's poll interval option starts at 3 s (default 10 s); the first poll"
        " after each status read reads every tier block (see the plan)."
    )


# -- Home Assistant --------------------------------------------------------------------------


def serve(link: str, pace: bool) -> None:
    """The child process: a simulated meter on TCP until stdin closes."""

    async def run() -> None:
        sim = MeterSimulator(ChangingMeter(), link, pace=pace)  # type: ignore[arg-type]
        host, port = await sim.serve_tcp()
        print(f"socket://{host}:{port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await sim.close()

    asyncio.run(run())


@contextlib.contextmanager
def simulator_process(link: str, *, pace: bool) -> Iterator[str]:
    """A simulator in a child process (its CPU is not ours); yields its socket:// port."""
    command = [sys.executable, __file__, "--serve", link] + (["--pace"] if pace else [])
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class CpuRun:
    link: str
    pace: bool
    refreshes: int
    entities: int
    changes: float
    writes: float
    wall: float
    process: float
    thread: float
    thread_median: float
    busy: float
    wakeups: int
    client: float
    idle_rate: float
    memory: list[tuple[int, int, float]] = field(default_factory=list)
    simulator: str = ""

    def __post_init__(self) -> None:
        self.simulator = self.simulator or ("paced" if self.pace else "unpaced")


class LoopMeter:
    """Counts the event loop's waits in select(): wake-ups, and the time it was not waiting."""

    def __init__(self) -> None:
        self.selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        self.select = self.selector.select
        self.wakeups = 0
        self.waiting = 0.0

    def __enter__(self) -> LoopMeter:
        def select(timeout: float | None = None) -> Any:
            start = time.perf_counter()
            try:
                return self.select(timeout)
            finally:
                self.waiting += time.perf_counter() - start
                self.wakeups += 1

        self.selector.select = select
        return self

    def __exit__(self, *exc: object) -> None:
        self.selector.select = self.select


async def idle_cost(wait: float, count: int, repeat: int = 20) -> float:
    """CPU time this machine charges for `count` event-loop waits of `wait` seconds, doing
    nothing else: the price of waking up, whatever the work."""
    start = time.thread_time()
    for _ in range(repeat):
        for _ in range(count):
            await asyncio.sleep(wait)
    return (time.thread_time() - start) / repeat


@dataclass
class SetupRun:
    label: str
    states: float  # set-up start to the last entity's first state
    returned: float  # set-up start to async_setup returning
    refresh: float  # the coordinator's first refresh: connect, first poll, status read
    with_state: int
    entities: int


def import_time(*, recorder: bool = True) -> float:
    """Seconds to import the integration's modules in a fresh process where Home Assistant's
    own (sensor, binary_sensor, the coordinator helper and, with `recorder`, the recorder) are
    loaded, as in a running one."""
    preload = "homeassistant.components.sensor, homeassistant.components.binary_sensor"
    preload += ", homeassistant.helpers.update_coordinator"
    if recorder:
        preload += ", homeassistant.components.recorder"
    code = (
        f"import time, {preload}\n"
        "start = time.perf_counter()\n"
        "import custom_components.nes_echelon, custom_components.nes_echelon.sensor,"
        " custom_components.nes_echelon.binary_sensor\n"
        "print(time.perf_counter() - start)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


class HomeAssistantBench:
    """One Home Assistant core in this process; entries come and go per measurement."""

    def __init__(self, hass: Any) -> None:
        from homeassistant.helpers import entity_registry as er
        from pytest_homeassistant_custom_component.common import MockConfigEntry

        from custom_components.nes_echelon import const

        self.hass = hass
        self.er = er
        self.const = const
        self.mock_entry = MockConfigEntry

    async def add_entry(self, port: str, link: str) -> Any:
        const = self.const
        meter = SimulatedMeter()
        entry = self.mock_entry(
            domain=const.DOMAIN,
            title=f"{meter.model} {meter.serial_number}",
            unique_id=meter.serial_number,
            data={
                const.CONF_PORT: port,
                const.CONF_LINK: link,
                const.CONF_KEY: meter.key.decode(),
            },
        )
        entry.add_to_hass(self.hass)
        return entry

    def enabled_entities(self, entry: Any) -> list[str]:
        registry = self.er.async_get(self.hass)
        return [
            e.entity_id
            for e in self.er.async_entries_for_config_entry(registry, entry.entry_id)
            if e.disabled_by is None
        ]

    async def remove(self, entry: Any) -> None:
        await self.hass.config_entries.async_remove(entry.entry_id)
        await self.hass.async_block_till_done()

    async def setup_time(self, link: str) -> list[SetupRun]:
        """Config entry to first states, first in this process and again (modules loaded)."""
        from homeassistant.const import EVENT_STATE_CHANGED
        from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

        first_refresh = DataUpdateCoordinator.async_config_entry_first_refresh
        refresh_times: list[float] = []
        state_times: dict[str, float] = {}  # entity id: its first state write
        registry = self.er.async_get(self.hass)

        async def timed(coordinator: Any) -> None:
            start = time.perf_counter()
            try:
                await first_refresh(coordinator)
            finally:
                refresh_times.append(time.perf_counter() - start)

        def first_state(event: Any) -> None:
            entity_id = event.data["entity_id"]
            entity = registry.async_get(entity_id)
            if entity and entity.platform == "nes_echelon" and entity_id not in state_times:
                state_times[entity_id] = time.perf_counter()

        results = []
        unsubscribe = self.hass.bus.async_listen(EVENT_STATE_CHANGED, first_state)
        try:
            with simulator_process(link, pace=True) as port:
                for label in ("first", "again"):
                    entry = await self.add_entry(port, link)
                    refresh_times.clear()
                    state_times.clear()
                    DataUpdateCoordinator.async_config_entry_first_refresh = timed  # type: ignore[method-assign]
                    try:
                        start = time.perf_counter()
                        ok = await self.hass.config_entries.async_setup(entry.entry_id)
                        returned = time.perf_counter() - start
                    finally:
                        DataUpdateCoordinator.async_config_entry_first_refresh = first_refresh  # type: ignore[method-assign]
                    assert ok, f"{link}: setup failed"
                    entities = self.enabled_entities(entry)
                    results.append(
                        SetupRun(
                            label=label,
                            states=max(state_times.values()) - start,
                            returned=returned,
                            refresh=refresh_times[0],
                            with_state=len(state_times),
                            entities=len(entities),
                        )
                    )
                    await self.remove(entry)
        finally:
            unsubscribe()
        return results

    async def cpu(self, link: str, *, pace: bool, refreshes: int, memory: int = 0) -> CpuRun:
        """CPU per coordinator refresh (poll + state writes); memory after many refreshes."""
        from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
        from homeassistant.core import callback

        hass = self.hass
        with simulator_process(link, pace=pace) as port:
            entry = await self.add_entry(port, link)
            assert await hass.config_entries.async_setup(entry.entry_id)
            coordinator = entry.runtime_data.coordinator
            events = {EVENT_STATE_CHANGED: 0, EVENT_STATE_REPORTED: 0}

            def count(event: Any) -> None:
                events[event.event_type] += 1

            async def refresh(n: int, per_poll: list[float] | None = None) -> None:
                for _ in range(n):
                    start = time.thread_time()
                    await coordinator.async_refresh()
                    if per_poll is not None:
                        per_poll.append(time.thread_time() - start)
                    if not coordinator.last_update_success:
                        raise RuntimeError(f"{link}: refresh failed: {coordinator.last_exception}")

            @callback
            def every(_data: Any) -> bool:
                return True

            unsubscribes = [
                hass.bus.async_listen(event, count, event_filter=every) for event in events
            ]
            try:
                await refresh(10)  # warm-up
                events = dict.fromkeys(events, 0)
                per_poll: list[float] = []
                with client_cpu() as client, LoopMeter() as loop:
                    wall, process = time.perf_counter(), time.process_time()
                    thread = time.thread_time()
                    await refresh(refreshes, per_poll)
                    wall = time.perf_counter() - wall
                    process = time.process_time() - process
                    thread = time.thread_time() - thread
                # Home Assistant idle for a while: its background CPU, to subtract.
                idle_wall, idle_cpu = time.perf_counter(), time.process_time()
                await asyncio.sleep(2)
                idle_rate = (time.process_time() - idle_cpu) / (time.perf_counter() - idle_wall)
                run = CpuRun(
                    link=link,
                    pace=pace,
                    refreshes=refreshes,
                    entities=len(self.enabled_entities(entry)),
                    changes=events[EVENT_STATE_CHANGED] / refreshes,
                    writes=sum(events.values()) / refreshes,
                    wall=wall,
                    process=process,
                    thread=thread,
                    thread_median=statistics.median(per_poll),
                    busy=wall - loop.waiting,
                    wakeups=loop.wakeups,
                    client=client[0],
                    idle_rate=idle_rate,
                )
                done = 10 + refreshes
                marks = [1_000 + (memory - 1_000) * k // 3 for k in range(4)] if memory else []
                for mark in marks:
                    await refresh(max(0, mark - done))
                    done = max(done, mark)
                    gc.collect()
                    run.memory.append((done, sys.getallocatedblocks(), rss_mib()))
            finally:
                for unsubscribe in unsubscribes:
                    unsubscribe()
                await self.remove(entry)
        return run


@contextlib.contextmanager
def client_cpu() -> Iterator[list[float]]:
    """Loop-thread CPU spent inside MeterClient.read, summed into the yielded list's [0]."""
    total = [0.0]
    original = MeterClient.read

    async def timed_read(client: MeterClient) -> Any:
        start = time.thread_time()
        try:
            return await original(client)
        finally:
            total[0] += time.thread_time() - start

    MeterClient.read = timed_read  # type: ignore[method-assign]
    try:
        yield total
    finally:
        MeterClient.read = original  # type: ignore[method-assign]


@contextlib.contextmanager
def no_mep_spacing() -> Iterator[None]:
    """The simulator does not enforce the 100 ms; leaving it out makes 10,000 polls quick."""
    spacing = mep.MIN_REQUEST_SPACING
    mep.MIN_REQUEST_SPACING = 0.0
    try:
        yield
    finally:
        mep.MIN_REQUEST_SPACING = spacing


async def home_assistant(
    args: argparse.Namespace, sections: tuple[str, ...], polls: dict[str, float]
) -> None:
    started = time.perf_counter()
    from homeassistant import loader
    from homeassistant.setup import async_setup_component
    from pytest_homeassistant_custom_component.common import async_test_home_assistant

    imported = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)  # find custom_components/
            # Our manifest's dependency (with http, which it needs, on a free local port); a
            # real Home Assistant has it set up long before.
            http = {"server_host": "127.0.0.1", "server_port": free_port()}
            assert await async_setup_component(hass, "http", {"http": http})
            assert await async_setup_component(hass, "usb", {})
            bench = HomeAssistantBench(hass)
            try:
                if "setup" in sections:
                    await print_setup(bench, polls, imported)
                if "cpu" in sections or "memory" in sections:
                    await print_cpu(bench, args, sections)
            finally:
                await hass.async_stop(force=True)


async def print_setup(bench: HomeAssistantBench, polls: dict[str, float], imported: float) -> None:
    print("== 5. Set-up: config entry to first states (simulator paced at 9600 baud) ==")
    modules = import_time()
    without_recorder = import_time(recorder=False)
    print(
        f"{'link':8} {'set-up':6} {'states':>7} {'refresh':>7} {'HA':>5} {'entities':>8}"
        f" {'- poll':>7} {'goal':>5} {'returns':>7}"
    )
    print(f"{'':8} {'':6} {'ms':>7} {'ms':>7} {'ms':>5} {'':>8} {'ms':>7} {'< 1 s':>5} {'ms':>7}")
    for link in LINKS:
        poll = polls.get(link, 0.0)
        for run in await bench.setup_time(link):
            states = run.states + (modules if run.label == "first" else 0.0)
            print(
                f"{link:8} {run.label:6} {states * 1000:7.0f} {run.refresh * 1000:7.0f}"
                f" {(states - run.refresh) * 1000:5.0f} {run.with_state:3d}/{run.entities:<4d}"
                f" {(states - poll) * 1000:7.0f} {'met' if states - poll < 1.0 else 'NO':>5}"
                f" {run.returned * 1000:7.0f}"
            )
    note(
        "states = from async_setup of a new config entry to the last of its entities' first"
        " states; first = the first set-up in this process, plus the import of the"
        f" integration's modules measured in a fresh process ({modules * 1000:.0f} ms with the"
        f" recorder loaded, as in any usual Home Assistant; {without_recorder * 1000:.0f} ms"
        " without: the history package imports it); again ="
        " a second entry, modules loaded. refresh = the coordinator's first refresh (connect:"
        " session, identity, layout; first poll; status read); HA = the rest (platforms,"
        " registries, first state writes). - poll = states minus one regular poll's median"
        " (section 1); goal < 1 s. returns = when async_setup returned (after the history"
        f" backfill's start). Home Assistant itself took {imported:.1f} s to import first;"
        " usb (our manifest's dependency) was set up before."
    )


async def print_cpu(
    bench: HomeAssistantBench, args: argparse.Namespace, sections: tuple[str, ...]
) -> None:
    runs: list[CpuRun] = []
    if "cpu" in sections:
        wakeup = await idle_cost(0.017, 1, repeat=100)
        spacing = await idle_cost(0.1, 2)
        for link in LINKS:
            runs.append(await bench.cpu(link, pace=False, refreshes=args.ha_polls))
            if link == "mep":
                with no_mep_spacing():
                    run = await bench.cpu(link, pace=False, refreshes=args.ha_polls)
                run.simulator = "no gaps"
                runs.append(run)
            runs.append(await bench.cpu(link, pace=True, refreshes=max(50, args.ha_polls // 4)))
        print("== 3. Event-loop CPU per poll in Home Assistant (coordinator refresh + states) ==")
        print(
            f"{'link':8} {'simulator':9} {'polls':>5} {'states':>9} {'process':>7} {'loop':>6}"
            f" {'loop':>6} {'busy':>6} {'wake-':>5} {'client':>6} {'HA':>6} {'goal':>6}"
        )
        print(
            f"{'':8} {'':9} {'':>5} {'wr/chg':>9} {'mean':>7} {'mean':>6} {'median':>6}"
            f" {'mean':>6} {'ups':>5} {'mean':>6} {'side':>6} {'<=2 ms':>6}"
        )
        for run in runs:
            n = run.refreshes
            wall = run.wall / n
            process = run.process / n - run.idle_rate * wall
            thread = run.thread / n
            client = run.client / n
            states = f"{run.entities}:{run.writes:.0f}/{run.changes:.0f}"
            print(
                f"{run.link:8} {run.simulator:9} {n:5d} {states:>9}"
                f" {process * 1000:7.2f} {thread * 1000:6.2f} {run.thread_median * 1000:6.2f}"
                f" {run.busy / n * 1000:6.2f} {run.wakeups / n:5.1f} {client * 1000:6.2f}"
                f" {(thread - client) * 1000:6.2f} {'met' if process <= 0.002 else 'missed':>6}"
            )
        idle = statistics.median(run.idle_rate for run in runs)
        note(
            "All figures in ms per poll. states = entities: state writes / state changes per"
            " poll (the simulated meter's power, voltage, current and energy change at every"
            " poll; alarms, tariff and the tiers not in force do not). process = process CPU"
            f" time (all threads), minus Home Assistant's idle rate ({idle * 1000:.2f} ms/s);"
            " loop = the event-loop thread's CPU time (mean, and median of the single polls);"
            " busy = wall time the loop was not waiting in select(); wake-ups = the loop's"
            " returns from select(); client = loop CPU inside MeterClient.read (framing,"
            " CRC/digest, decoding, and the wake-ups of its I/O); HA side = loop - client"
            " (coordinator, guard, entity state writes). The simulator runs in a child process;"
            " unpaced it answers at once, paced the bytes arrive at 9600 baud in 16-byte chunks"
            " as from a USB serial adapter, each one a wake-up; no gaps = MEP without its 100 ms"
            " request spacing. This machine (a VM, 2 CPUs shared with other work) charges"
            f" {wakeup * 1e6:.0f} us of CPU time for a bare event-loop wake-up after a 17 ms"
            f" wait, and {spacing * 1000:.2f} ms for the two 100 ms waits of a MEP poll's request"
            " spacing with nothing else to do."
        )
    if "memory" in sections:
        print(f"== 4b. Memory over {args.memory_polls} polls in Home Assistant (unpaced) ==")
        print(f"{'link':8} {'after polls':>11} {'blocks':>9} {'RSS MiB':>8}")
        with no_mep_spacing():
            for link in LINKS:
                run = await bench.cpu(link, pace=False, refreshes=100, memory=args.memory_polls)
                for polls, blocks, rss in run.memory:
                    print(f"{link:8} {polls:11d} {blocks:9d} {rss:8.1f}")
                (_, blocks1, rss1), *_, (_, blocks2, rss2) = run.memory
                print(f"{link:8} {'growth':>11} {blocks2 - blocks1:+9d} {rss2 - rss1:+8.1f}")
        note(
            "blocks = sys.getallocatedblocks() after gc.collect(): every live Python object of"
            " the process (Home Assistant included). MEP without its 100 ms request spacing here"
            " (the simulator does not need it), so that 10,000 polls take minutes, not hours."
        )


# -- main --------------------------------------------------------------------------------------


def print_header() -> None:
    from homeassistant.const import __version__ as ha_version

    cpu = "?"
    with contextlib.suppress(OSError, IndexError):
        cpu = Path("/proc/cpuinfo").read_text().split("model name")[1].split("\n")[0][3:]
    meter = SimulatedMeter()
    dims = meter.dimensions
    print(
        f"nes_echelon bench: Python {sys.version.split()[0]}, Home Assistant {ha_version},"
        f" {cpu} x {os.cpu_count()}"
    )
    print(
        f"simulated meter {meter.model}: {meter.phases} phases, {meter.tiers} tiers (two in use),"
        f" firmware {meter.firmware}, {dims.summations} summations, {dims.present_values}"
        " present values"
    )


async def main(args: argparse.Namespace) -> None:
    sections = tuple(args.only or SECTIONS)
    print_header()
    runs: list[PollRun] = []
    if {"plan", "wire", "setup"} & set(sections):
        n = args.polls
        every_row = {"plan", "wire"} & set(sections)
        for link in LINKS:
            runs.append(await run_polls(link, n, cycle_polls=20 if every_row else 0))
            if every_row and link == "optical":
                runs.append(await run_polls(link, n, session_per_poll=True))
            if every_row:
                runs.append(await run_polls(link, n, options=ALL_ENTITIES))
    if "plan" in sections:
        print("== 2. Poll plan: every request on the wire ==")
        for run in runs:
            if not run.pattern:
                print_plan(run, full=run.entities == "default entities")
    if "wire" in sections:
        print(
            f"== 1. Bytes and time per regular poll: {args.polls} polls per row,"
            " simulator paced at 9600 baud 8N1 =="
        )
        print_wire(runs)
        print_interval([r for r in runs if r.entities == "default entities"])
    polls = {
        r.link: statistics.median(r.times)
        for r in runs
        if not r.pattern and r.entities == "default entities"
    }
    if {"cpu", "memory", "setup"} & set(sections):
        await home_assistant(args, sections, polls)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=50, help="paced polls per link (>= 50)")
    parser.add_argument("--ha-polls", type=int, default=200, help="refreshes for the CPU figure")
    parser.add_argument("--memory-polls", type=int, default=10_000)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--serve", choices=LINKS, help=argparse.SUPPRESS)
    parser.add_argument("--pace", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        serve(arguments.serve, arguments.pace)
    else:
        asyncio.run(main(arguments))
