"""Soak: the integration polling for a long time with random faults, time compressed.

Each poll is one simulated second: the meter's registers advance by 1 s, the coordinator
refreshes at once (no waiting for the timer), and now and then a fault from the simulator's
set is switched on, for one answer or for a while. At the end: every fault recovered, memory
(tracemalloc and RSS), asyncio tasks and open file descriptors flat, and no energy value ever
published below the last one.

The default suite runs a short soak; `scripts/soak` runs 24 simulated hours (86,400 polls)
per link. Environment: NES_ECHELON_SOAK_POLLS (default 300), NES_ECHELON_SOAK_SEED (1),
NES_ECHELON_SOAK_LINKS ("optical,mep"), NES_ECHELON_SOAK_REPORT (a file for the figures),
NES_ECHELON_SOAK_FAULT_CHANCE (0.01 per poll), NES_ECHELON_SOAK_TRACEMALLOC (1; 0 measures
RSS alone: tracemalloc's own tables grow with what it traces and show in RSS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
import gc
import json
import logging
import os
from pathlib import Path
import random
import time
import tracemalloc
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.nes_echelon.nes_client import client as client_module, mep

from .conftest import RunningMeter, StartMeter, make_entry, setup_entry

POLLS = int(os.environ.get("NES_ECHELON_SOAK_POLLS", "300"))
SEED = int(os.environ.get("NES_ECHELON_SOAK_SEED", "1"))
LINKS = os.environ.get("NES_ECHELON_SOAK_LINKS", "optical,mep").split(",")
REPORT = os.environ.get("NES_ECHELON_SOAK_REPORT")
TRACE = os.environ.get("NES_ECHELON_SOAK_TRACEMALLOC", "1") == "1"  # 0: RSS only, faster
WARM_UP = 100  # polls before the first measurement (caches, first status read, …)
FAULT_CHANCE = float(os.environ.get("NES_ECHELON_SOAK_FAULT_CHANCE", "0.01"))  # per poll
LASTING_MAX = min(20, max(3, POLLS // 100))  # polls a lasting fault stays on, at most
STATUS_EVERY = 300  # polls (simulated seconds): alarms, tier and clock every 5 minutes
ENERGY_IMPORT = "sensor.nes_83331_3i_energy_import"

# (fault, links it applies to). Each is switched on for one answer, or for a few polls.
FAULTS: list[tuple[str, tuple[str, ...]]] = [
    ("silence", ("optical", "mep")),
    ("garbage", ("optical", "mep")),
    ("truncate", ("optical", "mep")),
    ("disconnect", ("optical", "mep")),
    ("cut", ("optical", "mep")),
    ("busy", ("optical", "mep")),
    ("not_possible", ("optical", "mep")),
    ("slow", ("optical", "mep")),
    ("bad_crc", ("optical",)),
    ("nak", ("optical",)),
    ("duplicate_toggle", ("optical",)),
    ("mep_leak", ("optical",)),
    ("bad_digest", ("mep",)),
    ("forget_sequence", ("mep",)),
    ("alert_before_response", ("mep",)),
    ("reboot", ("optical", "mep")),
]


@dataclass
class Figures:
    link: str
    polls: int = 0
    failed_polls: int = 0
    faults_injected: int = 0
    faults_recovered: int = 0
    by_fault: dict[str, int] = field(default_factory=dict)
    longest_outage_polls: int = 0
    connections: int = 0
    log_lines: int = 0
    error_lines: int = 0
    seconds: float = 0.0
    traced_start: int = 0
    traced_end: int = 0
    traced_peak: int = 0
    rss_start: int = 0
    rss_end: int = 0
    tasks_start: int = 0
    tasks_end: int = 0
    fds_start: int = 0
    fds_end: int = 0
    last_poll_ok: bool = False
    tracemalloc_own: int = 0  # tracemalloc's own memory (in RSS, not in the traced figure)
    samples: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(poll, traced bytes, RSS bytes, asyncio tasks) at eight points of the run."""


class CountingHandler(logging.Handler):
    """Counts what is logged at INFO and up, keeping nothing (a soak must not grow a log)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines = 0
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        if record.levelno >= logging.ERROR:
            self.errors += 1


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def counted_logs() -> Iterator[CountingHandler]:
    """During the soak the log is counted, not kept. The test harness's capturing handlers
    keep every record, and with an error's record its exception, traceback and all that
    those reach: over a day of faults that would look like a leak of ours."""
    root = logging.getLogger()
    handlers, root.handlers = root.handlers, []
    names = ("", "custom_components.nes_echelon", "homeassistant", "asyncio", "serialx")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.INFO)
    counter = CountingHandler()
    root.addHandler(counter)
    try:
        yield counter
    finally:
        root.handlers = handlers
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(autouse=True)
def compressed_time(monkeypatch: pytest.MonkeyPatch, hass: HomeAssistant) -> Any:
    """Time compression: no 100 ms MEP request spacing and short busy pauses. And the loop
    as Home Assistant runs it: the test harness's asyncio debug mode records a stack trace
    for every timer and task, which costs more than the poll itself."""
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.0)
    monkeypatch.setattr(client_module, "BUSY_PAUSE", 0.01)
    debug = hass.loop.get_debug()
    hass.loop.set_debug(False)
    yield
    hass.loop.set_debug(debug)


def arm(running: RunningMeter, name: str, count: int) -> None:
    if name == "reboot":
        running.sim.reboot()
    else:
        setattr(running.sim.faults, name, count)


@pytest.mark.parametrize("link", LINKS)
async def test_soak(hass: HomeAssistant, start_meter: StartMeter, link: str) -> None:
    with counted_logs() as counter:
        figures = await _soak(hass, start_meter, link, counter)
    _report(figures)

    assert figures.last_poll_ok
    assert figures.faults_recovered == figures.faults_injected
    assert figures.tasks_end == figures.tasks_start
    assert figures.fds_end == figures.fds_start
    # Flat memory: what is still allocated at the end, beyond the start, stays small whatever
    # the number of polls (a leak of 100 bytes per poll would be 8.6 MB over a day).
    assert figures.traced_end - figures.traced_start < 512 * 1024
    # One "Error fetching" per fault that failed polls, one "recovered", nothing per poll.
    assert figures.log_lines <= 2 * figures.faults_injected + 2


async def _soak(
    hass: HomeAssistant, start_meter: StartMeter, link: str, counter: CountingHandler
) -> Figures:
    rng = random.Random(f"{SEED}-{link}")
    running = await start_meter(link=link)
    running.sim.faults.slow_seconds = 0.15
    entry = make_entry(
        hass,
        running,
        options={"timeout": 0.1, "scan_interval": 3600, "status_interval": STATUS_EVERY},
    )
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    faults = [name for name, links in FAULTS if link in links]
    figures = Figures(link=link)

    async def one_poll(second: int) -> bool:
        running.meter.advance(1)
        if second % STATUS_EVERY == 0:
            coordinator._status_read = None  # due: five simulated minutes have passed
        await coordinator.async_refresh()
        figures.polls += 1
        if not coordinator.last_update_success:
            figures.failed_polls += 1
        return coordinator.last_update_success

    for second in range(WARM_UP):
        await one_poll(second)
    await hass.async_block_till_done(wait_background_tasks=True)
    gc.collect()
    if TRACE:
        tracemalloc.start()
    figures.traced_start = tracemalloc.get_traced_memory()[0]
    figures.rss_start = rss()
    figures.tasks_start = len(asyncio.all_tasks())
    figures.fds_start = open_fds()
    lines_before, errors_before = counter.lines, counter.errors
    connections_before = running.sim.connections
    began = time.perf_counter()

    published: float | None = None
    active: tuple[str, int] | None = None  # a lasting fault and the poll that clears it
    pending = 0  # injected, not yet seen recovered
    outage = 0
    for second in range(WARM_UP, WARM_UP + POLLS):
        if active is None and pending == 0 and rng.random() < FAULT_CHANCE:
            name = rng.choice(faults)
            lasting = name not in ("reboot", "slow") and rng.random() < 0.3
            arm(running, name, 99 if lasting else 1)
            figures.faults_injected += 1
            figures.by_fault[name] = figures.by_fault.get(name, 0) + 1
            pending = 1
            if lasting:
                active = (name, second + rng.randint(2, LASTING_MAX))
        if active is not None and second >= active[1]:
            running.sim.faults.clear()
            running.sim.faults.slow_seconds = 0.15
            active = None
        ok = await one_poll(second)
        if (second - WARM_UP) % max(1, POLLS // 8) == 0:
            figures.samples.append(
                (second, tracemalloc.get_traced_memory()[0], rss(), len(asyncio.all_tasks()))
            )
            figures.tracemalloc_own = tracemalloc.get_tracemalloc_memory()
        outage = 0 if ok else outage + 1
        figures.longest_outage_polls = max(figures.longest_outage_polls, outage)
        if ok and active is None and pending:
            figures.faults_recovered += 1
            pending = 0
        state = hass.states.get(ENERGY_IMPORT)
        if state is not None and state.state not in ("unknown", "unavailable"):
            value = float(state.state)
            assert published is None or value >= published, (second, published, value)
            published = value
    if active is not None:
        running.sim.faults.clear()
    if pending:
        ok = await one_poll(WARM_UP + POLLS)
        figures.faults_recovered += 1 if ok else 0

    figures.seconds = time.perf_counter() - began
    await hass.async_block_till_done(wait_background_tasks=True)
    gc.collect()
    figures.traced_end, figures.traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures.rss_end = rss()
    figures.tasks_end = len(asyncio.all_tasks())
    figures.fds_end = open_fds()
    figures.log_lines = counter.lines - lines_before
    figures.error_lines = counter.errors - errors_before
    figures.connections = running.sim.connections - connections_before
    figures.last_poll_ok = coordinator.last_update_success
    return figures


def _report(figures: Figures) -> None:
    data: dict[str, Any] = dict(vars(figures))
    data["seed"] = SEED
    line = json.dumps(data)
    print(f"\nsoak {line}")
    if REPORT:
        with Path(REPORT).open("a") as report:
            report.write(line + "\n")


def print_report(path: str) -> None:
    """The figures of a soak run (scripts/soak) as a table."""
    runs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    mib = 1024 * 1024
    rows = [
        ("link", lambda r: r["link"]),
        ("polls (simulated seconds)", lambda r: f"{r['polls']:,}"),
        (
            "wall time",
            lambda r: (
                f"{r['seconds'] / 60:.1f} min ({r['seconds'] / r['polls'] * 1000:.1f} ms/poll)"
            ),
        ),
        (
            "faults injected / recovered",
            lambda r: f"{r['faults_injected']} / {r['faults_recovered']}",
        ),
        (
            "failed polls (longest outage)",
            lambda r: f"{r['failed_polls']} ({r['longest_outage_polls']} polls)",
        ),
        ("reconnections", lambda r: str(r["connections"])),
        ("log lines INFO+ (ERROR)", lambda r: f"{r['log_lines']} ({r['error_lines']})"),
        (
            "traced memory start → end (peak)",
            lambda r: (
                f"{r['traced_start'] / mib:.2f} → {r['traced_end'] / mib:.2f} MiB"
                f" ({r['traced_peak'] / mib:.2f})"
                if r["traced_peak"]
                else "not traced"
            ),
        ),
        ("RSS start → end", lambda r: f"{r['rss_start'] / mib:.1f} → {r['rss_end'] / mib:.1f} MiB"),
        ("asyncio tasks start → end", lambda r: f"{r['tasks_start']} → {r['tasks_end']}"),
        ("open fds start → end", lambda r: f"{r['fds_start']} → {r['fds_end']}"),
    ]
    print("| | " + " | ".join(r["link"] for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for label, cell in rows[1:]:
        print(f"| {label} | " + " | ".join(cell(r) for r in runs) + " |")
    for r in runs:
        faults = ", ".join(f"{name} {count}" for name, count in sorted(r["by_fault"].items()))
        print(f"\n{r['link']} faults: {faults}")
        samples = ", ".join(
            f"{poll:,}: {traced / mib:.2f}/{size / mib:.0f} MiB, {tasks} tasks"
            for poll, traced, size, tasks in r["samples"]
        )
        print(f"{r['link']} samples (poll: traced/RSS, tasks): {samples}")
