"""The command line: `read` prints the simulator's values exactly, `simulate` serves a meter.

`cli.main` runs its own event loop (asyncio.run), so it runs in a worker thread here while
the simulator is served by the test's loop; two tests start the real `python -m …` processes.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import re
import runpy
import signal
import subprocess
import sys

import pytest

from custom_components.nes_echelon.nes_client.tables import (
    BT00,
    GeneralConfig,
    encode_general_config,
)
from nes_echelon_dev import cli
from nes_echelon_dev.simulator import SimulatedMeter
from tests.nes_client.conftest import Link, MeterRefuses, RunningMeter, StartMeter, Via, table_of
from tests.nes_client.expect import present

REPO = Path(__file__).resolve().parents[2]
MODULE = "nes_echelon_dev"  # the nes-echelon command: read and simulate
WRONG_KEY = "NOT-THE-RIGHT-KEY-20"
AUTH_FAILED = "authentication failed: check the meter key\n"
CLOCK = "pattern:"  # marks the one line whose clock value changes


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


async def read(running: RunningMeter, *extra: str, key: str | None = None) -> int:
    return await run_cli(
        "read",
        "--port",
        running.port,
        "--key",
        running.key.decode() if key is None else key,
        "--link",
        running.link,
        "--timeout",
        "0.3",
        *extra,
    )


def expected_text(meter: SimulatedMeter) -> list[str]:
    """Every line `read` prints for this meter, the clock line as a pattern."""
    total = meter.registers(0)
    phases = 3 if meter.phases == 3 else 1
    lines = [
        f"Meter {meter.serial_number}: {meter.manufacturer} {meter.model}, "
        f"firmware {meter.firmware}, {phases} phase(s)",
        f"  import {total[0] / 1000:.3f} kWh, export {total[1] / 1000:.3f} kWh",
    ]
    for tier in range(1, 1 + meter.tiers):
        values = meter.registers(tier)
        lines.append(
            f"  tier {tier}: import {values[0] / 1000:.3f} kWh, export {values[1] / 1000:.3f} kWh"
        )
    lines += [f"  {name}: {value:g}" for name, value in present(meter).items() if value is not None]
    lines.append(
        CLOCK + re.escape(f"  tier in force: {meter.current_tier}, clock ") + r"\S+ \(UTC\)"
    )
    active = [name for name, on in asdict(meter.alarms).items() if on]
    lines.append(f"  alarms: {', '.join(active) if active else 'none'}")
    return lines


def assert_text(output: str, meter: SimulatedMeter) -> None:
    lines = output.splitlines()
    expected = expected_text(meter)
    assert len(lines) == len(expected)
    for line, want in zip(lines, expected, strict=True):
        if want.startswith(CLOCK):
            assert re.fullmatch(want.removeprefix(CLOCK), line), line
        else:
            assert line == want


def assert_report(report: dict[str, object], meter: SimulatedMeter) -> None:
    def energy(block: int) -> dict[str, int]:
        values = meter.registers(block)
        names = ("import_wh", "export_wh", "reactive_import_varh", "reactive_export_varh")
        return dict(zip(names, values, strict=True))

    status = report.pop("status")
    assert report == {
        "serial_number": meter.serial_number,
        "manufacturer": meter.manufacturer,
        "model": meter.model,
        "firmware": str(meter.firmware),
        "phases": meter.phases,
        "tiers_reported": meter.tiers,
        "energy": energy(0),
        "tiers": [energy(block) for block in range(1, 1 + meter.tiers)],
        "present": {name: value for name, value in present(meter).items() if value is not None},
    }
    assert isinstance(status, dict)
    assert status["alarms"] == asdict(meter.alarms)
    assert status["current_tier"] == meter.current_tier
    clock = datetime.fromisoformat(status["clock"])
    assert abs(clock - datetime.now(UTC) - meter.clock_drift) < timedelta(seconds=3)


# -- read -------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_read_prints_the_meters_values(
    start_meter: StartMeter, capsys: pytest.CaptureFixture[str], link: Link, via: Via
) -> None:
    meter = SimulatedMeter(current_tier=3)
    meter.alarms = replace(meter.alarms, cover_removed=True, key_expiration_pending=True)
    running = await start_meter(meter, link=link, via=via)
    assert await read(running) == 0
    out, err = capsys.readouterr()
    assert_text(out, meter)
    assert "  import 33821.691 kWh, export 1739.085 kWh" in out.splitlines()
    assert "  alarms: cover_removed, key_expiration_pending" in out.splitlines()
    assert err == ""


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_read_json(
    start_meter: StartMeter, capsys: pytest.CaptureFixture[str], link: Link, via: Via
) -> None:
    meter = SimulatedMeter(phases=1, tiers=8, clock_drift=timedelta(minutes=3))
    running = await start_meter(meter, link=link, via=via)
    assert await read(running, "--json") == 0
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert report["serial_number"] == "0710123456"
    assert_report(report, meter)


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_wrong_key(
    start_meter: StartMeter, capsys: pytest.CaptureFixture[str], link: Link, via: Via
) -> None:
    running = await start_meter(link=link, via=via)
    assert await read(running, key=WRONG_KEY) == 1
    out, err = capsys.readouterr()
    assert err == AUTH_FAILED
    assert out == ""
    assert running.failed_logons == 1


@pytest.mark.parametrize(
    "key", ["short", "0123456789ABCDEFGHIJK", "0123456789ABCDEFGHIÆ", "zz" * 20]
)
async def test_malformed_key_sends_nothing(
    start_meter: StartMeter, capsys: pytest.CaptureFixture[str], link: Link, key: str
) -> None:
    running = await start_meter(link=link)
    assert await read(running, key=key) == 2
    out, err = capsys.readouterr()
    assert err.startswith("invalid key: the meter key must be 20 characters or 40 hex digits")
    assert out == ""
    assert running.sim.connections == 0  # the port was not even opened


async def test_no_answer(start_meter: StartMeter, capsys: pytest.CaptureFixture[str]) -> None:
    running = await start_meter()
    running.faults.silence = 100
    assert (
        await run_cli(
            "read", "--port", running.port, "--key", running.key.decode(), "--timeout", "0.05"
        )
        == 1
    )
    assert capsys.readouterr().err.startswith("no answer from the meter")


async def test_port_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB-missing")
    assert await run_cli("read", "--port", missing, "--key", WRONG_KEY) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"no such port: cannot open {missing}")


async def test_integrity_failure(
    start_meter: StartMeter, capsys: pytest.CaptureFixture[str]
) -> None:
    running = await start_meter(link="mep")
    running.faults.bad_digest = 100
    assert await read(running) == 1
    assert capsys.readouterr().err.startswith("the meter's answers kept failing their checks")


async def test_unsupported_meter(
    start_meter: StartMeter, capsys: pytest.CaptureFixture[str], meter_refuses: MeterRefuses
) -> None:
    config = encode_general_config(GeneralConfig(False, 0x88, "NES", 6))[:18]  # big-endian
    reply = b"\x00" + len(config).to_bytes(2, "big") + config  # MEP: no checksum

    meter_refuses(lambda request: reply if table_of(request) == BT00 else None)
    running = await start_meter(link="mep")
    assert await read(running) == 1
    assert capsys.readouterr().err.startswith("unsupported meter: table format 0x88")


async def test_other_meter_error(
    start_meter: StartMeter, capsys: pytest.CaptureFixture[str], meter_refuses: MeterRefuses
) -> None:
    meter_refuses(lambda request: b"\x06" if table_of(request) == 23 else None)
    running = await start_meter()
    assert await read(running) == 1
    assert capsys.readouterr().err == "meter error: meter answered 0x06 (device busy)\n"


@pytest.mark.parametrize("module", [MODULE, "custom_components.nes_echelon.nes_client"])
def test_module_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], module: str
) -> None:
    monkeypatch.setattr(sys, "argv", ["nes_client", "read", "--port", "/dev/null", "--key", "x"])
    with pytest.raises(SystemExit) as caught:
        runpy.run_module(module, run_name="__main__")
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("invalid key:")


# -- simulate ---------------------------------------------------------------------------------


async def started_simulator(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[asyncio.Task[int], str, str]:
    """Run `simulate` in this loop; returns its task, the port line and all it printed."""
    args = cli.build_parser().parse_args(["simulate", *argv])
    task = asyncio.create_task(cli._simulate(args))
    printed = ""
    for _ in range(200):
        await asyncio.sleep(0.01)
        printed += capsys.readouterr().out
        if "key: " in printed:
            break
    match = re.search(r"^port: (\S+)$", printed, re.MULTILINE)
    assert match, printed
    return task, match.group(1), printed


async def stop(task: asyncio.Task[int]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("where", [["--tcp", "127.0.0.1:0"], ["--pty"]], ids=["tcp", "pty"])
async def test_simulate_then_read(
    capsys: pytest.CaptureFixture[str], socket_enabled: None, link: Link, where: list[str]
) -> None:
    key = "MY-OWN-METER-KEY-123"
    task, port, printed = await started_simulator(
        capsys, "--link", link, *where, "--static", "--key", key, "--phases", "1", "--tiers", "0"
    )
    try:
        assert f"Simulated NES/Echelon meter, {link} port, serial 0710123456" in printed
        assert f"key: {key}" in printed
        assert port.startswith("socket://127.0.0.1:" if where[0] == "--tcp" else "/dev/")
        argv = ["read", "--port", port, "--key", key, "--link", link, "--timeout", "0.3"]
        assert await run_cli(*argv) == 0
        assert_text(capsys.readouterr().out, SimulatedMeter(phases=1, tiers=0))
    finally:
        await stop(task)


async def test_simulate_prints_an_unprintable_key_as_hex(
    capsys: pytest.CaptureFixture[str], socket_enabled: None
) -> None:
    task, _, printed = await started_simulator(capsys, "--tcp", "127.0.0.1:0", "--key", "01" * 20)
    await stop(task)
    assert f"key: {'01' * 20}" in printed


async def test_simulate_with_the_default_key(
    capsys: pytest.CaptureFixture[str], socket_enabled: None
) -> None:
    task, _, printed = await started_simulator(capsys, "--link", "mep", "--tcp", "127.0.0.1:0")
    await stop(task)
    assert f"key: {SimulatedMeter().key.decode()}" in printed


def test_simulate_stops_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(coro: object) -> int:
        coro.close()  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.asyncio, "run", interrupted)
    assert cli.main(["simulate", "--tcp", "127.0.0.1:0"]) == 0


# -- the real processes -----------------------------------------------------------------------


async def start_process(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        MODULE,
        *argv,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


async def simulator_process(*argv: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await start_process("simulate", *argv)
    assert proc.stdout is not None
    port = ""
    async with asyncio.timeout(20):
        while not port:
            line = (await proc.stdout.readline()).decode()
            assert line, "the simulator exited"
            if line.startswith("port: "):
                port = line.split(" ", 1)[1].strip()
    return proc, port


async def interrupt(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        async with asyncio.timeout(10):
            return await proc.wait()
    except TimeoutError:
        proc.kill()
        return await proc.wait()


async def test_processes_debug_log_masks_the_key(socket_enabled: None) -> None:
    """`simulate` and `read --debug` as a user runs them: the frames are logged in hex, the
    key never is, and the values printed are the simulator's."""
    sim, port = await simulator_process("--link", "optical", "--tcp", "127.0.0.1:0", "--static")
    try:
        key = SimulatedMeter().key
        reader = await start_process(
            "--debug", "read", "--port", port, "--key", key.decode(), "--link", "optical"
        )
        async with asyncio.timeout(30):
            out, err = await reader.communicate()
        assert reader.returncode == 0, err.decode()
        log = err.decode()
        assert re.search(r"tx ee 00 20 00 00 15 51( \*\*){20} [0-9a-f]{2} [0-9a-f]{2}\n", log)
        assert re.search(r"rx 06 ee 00 ", log)
        for form in (key.hex(" "), key.hex(), key.hex(" ").upper(), key.decode()):
            assert form not in log
        assert_text(out.decode(), SimulatedMeter())
    finally:
        assert await interrupt(sim) == 0


async def test_processes_wrong_key(socket_enabled: None) -> None:
    sim, port = await simulator_process("--link", "mep", "--pty", "--static")
    try:
        reader = await start_process("read", "--port", port, "--key", WRONG_KEY, "--link", "mep")
        async with asyncio.timeout(30):
            out, err = await reader.communicate()
        assert reader.returncode == 1
        assert err.decode() == AUTH_FAILED
        assert out == b""
    finally:
        assert await interrupt(sim) == 0


def test_the_bundled_client_reads_on_its_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`python -m custom_components.nes_echelon.nes_client read …` (in Home Assistant's own
    environment) is the client's command, without the simulator."""
    from custom_components.nes_echelon.nes_client import cli as client_cli

    missing = str(tmp_path / "ttyUSB-missing")
    assert client_cli.main(["read", "--port", missing, "--key", WRONG_KEY]) == 1
    assert capsys.readouterr().err.startswith(f"no such port: cannot open {missing}")
    with pytest.raises(SystemExit):
        client_cli.main(["simulate", "--tcp", "127.0.0.1:0"])
