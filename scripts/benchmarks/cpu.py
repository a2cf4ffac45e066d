"""Section "cpu": event-loop CPU per coordinator refresh inside a running Home Assistant (and
the refresh loop the memory section reuses)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import gc
import selectors
import statistics
import sys
import time
from typing import Any

from custom_components.nes_echelon.nes_client import mep
from custom_components.nes_echelon.nes_client.client import MeterClient

from .hass import HomeAssistantBench, rss_mib, simulator_process
from .output import note
from .polls import LINKS


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


class CountingSelector(selectors.DefaultSelector):
    """The event loop's usual selector, counting its waits into a LoopMeter while one is set."""

    meter: LoopMeter | None = None

    def select(self, timeout: float | None = None) -> Any:
        meter = self.meter
        if meter is None:
            return super().select(timeout)
        start = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            meter.waiting += time.perf_counter() - start
            meter.wakeups += 1


SELECTOR = CountingSelector()


def counting_loop() -> asyncio.AbstractEventLoop:
    """The loop the bench runs in: the default selector loop, on the counting selector."""
    return asyncio.SelectorEventLoop(SELECTOR)


class LoopMeter:
    """Counts the event loop's waits in select(): wake-ups, and the time it was not waiting.

    Needs the loop of `counting_loop` (scripts/bench.py runs in one)."""

    def __init__(self) -> None:
        self.wakeups = 0
        self.waiting = 0.0

    def __enter__(self) -> LoopMeter:
        SELECTOR.meter = self
        return self

    def __exit__(self, *exc: object) -> None:
        SELECTOR.meter = None


async def idle_cost(wait: float, count: int, repeat: int = 20) -> float:
    """CPU time this machine charges for `count` event-loop waits of `wait` seconds, doing
    nothing else: the price of waking up, whatever the work."""
    start = time.thread_time()
    for _ in range(repeat):
        for _ in range(count):
            await asyncio.sleep(wait)
    return (time.thread_time() - start) / repeat


async def measure_cpu(
    bench: HomeAssistantBench, link: str, *, pace: bool, refreshes: int, memory: int = 0
) -> CpuRun:
    """CPU per coordinator refresh (poll + state writes); memory after many refreshes."""
    from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
    from homeassistant.core import callback

    hass = bench.hass
    with simulator_process(link, pace=pace) as port:
        entry = await bench.add_entry(port, link)
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

        unsubscribes = [hass.bus.async_listen(event, count, event_filter=every) for event in events]
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
                entities=len(bench.enabled_entities(entry)),
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
            await bench.remove(entry)
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


async def print_cpu(bench: HomeAssistantBench, ha_polls: int) -> None:
    runs: list[CpuRun] = []
    wakeup = await idle_cost(0.017, 1, repeat=100)
    spacing = await idle_cost(0.1, 2)
    for link in LINKS:
        runs.append(await measure_cpu(bench, link, pace=False, refreshes=ha_polls))
        if link == "mep":
            with no_mep_spacing():
                run = await measure_cpu(bench, link, pace=False, refreshes=ha_polls)
            run.simulator = "no gaps"
            runs.append(run)
        runs.append(await measure_cpu(bench, link, pace=True, refreshes=max(50, ha_polls // 4)))
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
