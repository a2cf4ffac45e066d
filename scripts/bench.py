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

The sections live in scripts/benchmarks/ (one module each, the shared harness beside them);
this file only runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
import warnings

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# Home Assistant's start-up chatter is not a figure.
warnings.filterwarnings("ignore", message="install_as_voluptuous")
for name in ("homeassistant.loader", "aiohttp_fast_zlib"):
    logging.getLogger(name).setLevel(logging.ERROR)

from benchmarks.cpu import counting_loop, print_cpu  # noqa: E402
from benchmarks.hass import HomeAssistantBench, free_port, serve  # noqa: E402
from benchmarks.memory import print_memory  # noqa: E402
from benchmarks.plan import print_plans  # noqa: E402
from benchmarks.polls import ALL_ENTITIES, LINKS, PollRun, run_polls  # noqa: E402
from benchmarks.setup import print_setup  # noqa: E402
from benchmarks.wire import print_wire_section  # noqa: E402

from nes_echelon_dev.simulator import SimulatedMeter  # noqa: E402

SECTIONS = ("plan", "wire", "setup", "cpu", "memory")


async def home_assistant(
    args: argparse.Namespace, sections: tuple[str, ...], polls: dict[str, float]
) -> None:
    """The Home Assistant sections, in one core started here."""
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
                if "cpu" in sections:
                    await print_cpu(bench, args.ha_polls)
                if "memory" in sections:
                    await print_memory(bench, args.memory_polls)
            finally:
                await hass.async_stop(force=True)


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
        print_plans(runs)
    if "wire" in sections:
        print_wire_section(runs, args.polls)
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
        asyncio.run(main(arguments), loop_factory=counting_loop)
