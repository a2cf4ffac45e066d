"""The Home Assistant harness: one core in this process (the test harness's
`async_test_home_assistant`), config entries added and removed per measurement, the simulator
in a child process so that the CPU measured is Home Assistant's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from pathlib import Path
import socket
import subprocess
import sys
from typing import Any

from nes_echelon_dev.simulator import MeterSimulator, SimulatedMeter

from .polls import ChangingMeter

BENCH = Path(__file__).resolve().parent.parent / "bench.py"


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
    command = [sys.executable, str(BENCH), "--serve", link] + (["--pace"] if pace else [])
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
