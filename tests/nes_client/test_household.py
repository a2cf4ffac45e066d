"""The household profile (scripts/develop's simulator) and the `simulate` options around it:
`--profile household`, `--state-file`, and unplugging the line with SIGUSR1/SIGUSR2."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import re
import signal

import pytest

from nes_echelon_dev import cli
from nes_echelon_dev.simulator import HouseholdProfile, MeterSimulator, SimulatedMeter, household

DAY = datetime(2026, 6, 21, tzinfo=UTC)


def at(hours: float, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hours)


def minutes_of(day: datetime) -> list[datetime]:
    return [day + timedelta(minutes=minute) for minute in range(24 * 60)]


def test_same_seed_and_time_give_the_same_loads() -> None:
    for hours in (3.2, 7.5, 13.0, 18.75):
        assert HouseholdProfile(seed=7).loads_at(at(hours)) == HouseholdProfile(seed=7).loads_at(
            at(hours)
        )
    day = minutes_of(DAY)
    one = [HouseholdProfile(seed=1).loads_at(when) for when in day]
    two = [HouseholdProfile(seed=2).loads_at(when) for when in day]
    assert one != two


def test_night_imports_only() -> None:
    profile = HouseholdProfile()
    for minute in range(0, 5 * 60, 7):
        when = at(minute / 60)
        assert profile.solar(when) == 0
        loads = profile.loads_at(when)
        assert all(load.export_w == 0 for load in loads)
        assert 150 < sum(load.import_w for load in loads) < 3000


def test_solar_exports_at_midday_and_peaks_then() -> None:
    profile = HouseholdProfile()
    noon = [at(12 + minute / 60) for minute in range(0, 120, 5)]
    assert all(profile.solar(when) > 1000 for when in noon)
    exporting = [when for when in noon if sum(load.export_w for load in profile.loads_at(when))]
    assert len(exporting) > len(noon) // 2
    assert profile.solar(at(13)) > profile.solar(at(9)) > profile.solar(at(7.5)) > 0
    assert profile.solar(at(19.5)) == 0
    assert max(profile.solar(when) for when in minutes_of(DAY)) <= household.SOLAR_PEAK_W


def test_a_phase_either_imports_or_exports() -> None:
    profile = HouseholdProfile(seed=3)
    for when in minutes_of(DAY)[::11]:
        for load in profile.loads_at(when):
            assert load.import_w >= 0
            assert load.export_w >= 0
            assert not (load.import_w and load.export_w)
            assert 225 < load.voltage < 240
            assert 0.9 < load.power_factor <= 1


def test_kettle_now_and_then_on_l1() -> None:
    profile = HouseholdProfile(seed=5)
    day = minutes_of(DAY)
    on = [when for when in day if profile.kettle_on(when)]
    # A few kettles a day, 3 minutes each, and never half of the time.
    assert 5 * household.KETTLE_MINUTES <= len(on) <= 200
    assert len(on) < len(day) // 4
    when = on[0]
    before = profile.consumption(when - timedelta(minutes=household.KETTLE_MINUTES + 1))
    assert profile.consumption(when)[0] > household.KETTLE_W
    assert before[0] < household.KETTLE_W
    # Its start lies in its quarter of an hour, with time to finish there.
    start = profile.kettle_start(when)
    assert start is not None
    slot = int(start) // household.KETTLE_SLOT_MIN
    assert start + household.KETTLE_MINUTES <= (slot + 1) * household.KETTLE_SLOT_MIN


def test_fridge_cycles_on_l2() -> None:
    profile = HouseholdProfile(seed=9)
    cycle = [at(2 + minute / 60) for minute in range(household.FRIDGE_CYCLE_MIN)]
    assert sum(profile.fridge_on(when) for when in cycle) == household.FRIDGE_ON_MIN


def test_the_profile_sets_a_meters_loads() -> None:
    now = at(13)
    profile = HouseholdProfile(clock=lambda: now)
    meter = SimulatedMeter()
    profile(meter)
    assert meter.loads == profile.loads_at(now)
    slots = meter.present_slots()
    assert slots[1] == round(sum(load.export_w for load in meter.loads))


def test_single_phase_meter_carries_the_household_on_l1() -> None:
    now = at(20)
    profile = HouseholdProfile(clock=lambda: now)
    meter = SimulatedMeter(phases=1)
    profile(meter)
    l1, l2, l3 = meter.loads
    assert l2.voltage == l3.voltage == 0
    assert l2.import_w == l3.import_w == 0
    assert l1.import_w == pytest.approx(sum(profile.consumption(now)), abs=0.1)


async def test_live_simulator_runs_the_hook_after_each_second() -> None:
    meter = SimulatedMeter()
    seen: list[float] = []
    ticked = asyncio.Event()

    def on_tick(ticked_meter: SimulatedMeter) -> None:
        seen.append(ticked_meter.energy[0][0])
        ticked.set()

    start = meter.energy[0][0]
    sim = MeterSimulator(meter, live=True, on_tick=on_tick)
    try:
        async with asyncio.timeout(5):
            await ticked.wait()
    finally:
        await sim.close()
    # The import register had grown by one second of the fixed loads when the hook ran.
    imported = sum(load.import_w for load in meter.loads) / 3600
    assert seen[0] == pytest.approx(start + imported)


# -- simulate --profile household --state-file …, and its line --------------------------------


async def started(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[asyncio.Task[int], str, int]:
    args = cli.build_parser().parse_args(["simulate", *argv])
    task = asyncio.create_task(cli._simulate(args))
    printed = ""
    for _ in range(300):
        await asyncio.sleep(0.01)
        printed += capsys.readouterr().out
        if "key: " in printed:
            break
    match = re.search(r"^port: socket://(\S+):(\d+)$", printed, re.MULTILINE)
    assert match, printed
    return task, match.group(1), int(match.group(2))


async def can_connect(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


async def eventually(check: Callable[[], bool]) -> None:
    for _ in range(250):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within 5 s")


async def test_simulate_household_with_state_file_and_unplugging(
    capsys: pytest.CaptureFixture[str], socket_enabled: None, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    task, host, port = await started(
        capsys,
        "--tcp",
        "127.0.0.1:0",
        "--profile",
        "household",
        "--seed",
        "4",
        "--state-file",
        str(state),
    )
    try:
        report = json.loads(state.read_text())
        assert report["online"] is True
        assert report["serial_number"] == SimulatedMeter().serial_number
        now = report["now"]
        assert report["history"] == [now]
        assert now["energy_import_wh"] == SimulatedMeter().registers(0)[0]
        assert {"power_import_w", "power_export_w", "time"} <= set(now)
        assert await can_connect(host, port)

        # SIGUSR1 unplugs (the port closes), SIGUSR2 plugs in again on the same port.
        assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN)
        signal.raise_signal(signal.SIGUSR1)
        await eventually(lambda: not json.loads(state.read_text())["online"])
        assert not await can_connect(host, port)
        signal.raise_signal(signal.SIGUSR1)  # unplugging twice changes nothing
        signal.raise_signal(signal.SIGUSR2)
        await eventually(lambda: json.loads(state.read_text())["online"])
        assert await can_connect(host, port)
        signal.raise_signal(signal.SIGUSR2)  # neither does plugging in twice
        await asyncio.sleep(0.05)
        assert await can_connect(host, port)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # The signal handlers are gone with the simulator.
    assert signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None)


def test_state_file_keeps_recent_readings(tmp_path: Path) -> None:
    state = cli.StateFile(tmp_path / "state.json")
    meter = SimulatedMeter()
    for _ in range(cli.StateFile.KEEP + 5):
        meter.advance(60)
        state(meter)
    report = json.loads(state.path.read_text())
    assert len(report["history"]) == cli.StateFile.KEEP
    assert report["now"] == report["history"][-1]
    assert report["now"]["energy_import_wh"] == meter.registers(0)[0]
    assert not (tmp_path / "state.json.partial").exists()


def test_fixed_profile_is_the_default() -> None:
    args = cli.build_parser().parse_args(["simulate", "--tcp", "127.0.0.1:0"])
    assert args.profile == "fixed"
    assert args.state_file is None
