"""Section "setup": config entry to first states, against the paced simulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import subprocess
import sys
import time
from typing import Any

from .hass import HomeAssistantBench, simulator_process
from .output import note
from .polls import LINKS

REPO = Path(__file__).resolve().parent.parent.parent


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


async def setup_time(bench: HomeAssistantBench, link: str) -> list[SetupRun]:
    """Config entry to first states, first in this process and again (modules loaded)."""
    from homeassistant.const import EVENT_STATE_CHANGED
    from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

    first_refresh = DataUpdateCoordinator.async_config_entry_first_refresh
    refresh_times: list[float] = []
    state_times: dict[str, float] = {}  # entity id: its first state write
    registry = bench.er.async_get(bench.hass)

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
    unsubscribe = bench.hass.bus.async_listen(EVENT_STATE_CHANGED, first_state)
    try:
        with simulator_process(link, pace=True) as port:
            for label in ("first", "again"):
                entry = await bench.add_entry(port, link)
                refresh_times.clear()
                state_times.clear()
                DataUpdateCoordinator.async_config_entry_first_refresh = timed  # type: ignore[method-assign]
                try:
                    start = time.perf_counter()
                    ok = await bench.hass.config_entries.async_setup(entry.entry_id)
                    returned = time.perf_counter() - start
                finally:
                    DataUpdateCoordinator.async_config_entry_first_refresh = first_refresh  # type: ignore[method-assign]
                assert ok, f"{link}: setup failed"
                entities = bench.enabled_entities(entry)
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
                await bench.remove(entry)
    finally:
        unsubscribe()
    return results


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
        for run in await setup_time(bench, link):
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
