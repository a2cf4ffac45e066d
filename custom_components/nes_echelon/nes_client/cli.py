"""`read` a meter (or the simulator) and print one snapshot; `simulate` a meter."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from dataclasses import asdict
import json
import logging
import os
from pathlib import Path
import signal
import sys
import time
from typing import Any

from .client import MeterClient
from .connection import LinkKind, connect
from .errors import InvalidKeyFormat, NesError, error_key
from .keys import parse_key
from .model import MeterIdentity, MeterStatus, Snapshot
from .simulator import HouseholdProfile, MeterSimulator, SimulatedMeter

# The console command of the pip distribution (`pip install .` of the repository, see
# pyproject.toml); in a Home Assistant checkout the same code runs as
# `python -m custom_components.nes_echelon.nes_client`.
PROG = "nes-echelon"

# What `read` prints for each failure, by the key of the one error table (errors.ERROR_KEYS).
FAILURE_TEXTS = {
    "invalid_key_format": "invalid key: {error}",
    "invalid_key": "authentication failed: check the meter key",
    "port_missing": "no such port: {error}",
    "timeout": "no answer from the meter: check the probe's position, the port and --link",
    "cannot_connect": "port problem: {error}",
    "integrity": "the meter's answers kept failing their checks: {error}",
    "unsupported_meter": "unsupported meter: {error}",
    "meter_error": "meter error: {error}",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--debug", action="store_true", help="log every frame in hex (key masked)")
    commands = parser.add_subparsers(dest="command", required=True)

    read = commands.add_parser("read", help="print one snapshot from a meter or the simulator")
    read.add_argument(
        "--port", required=True, help="/dev/serial/by-id/…, socket://h:p, rfc2217://…"
    )
    read.add_argument("--key", required=True, help="the meter key: 20 characters or 40 hex digits")
    read.add_argument("--link", choices=[k.value for k in LinkKind], default="optical")
    read.add_argument("--timeout", type=float, default=None, help="seconds to wait per response")
    read.add_argument("--json", action="store_true", help="one JSON object, SI units")

    simulate = commands.add_parser("simulate", help="run the meter simulator")
    simulate.add_argument("--link", choices=[k.value for k in LinkKind], default="optical")
    where = simulate.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen for socket:// clients")
    where.add_argument("--pty", action="store_true", help="serve a pseudo-terminal device")
    simulate.add_argument("--key", default=None, help="the key the meter accepts")
    simulate.add_argument("--phases", type=int, choices=(1, 3), default=3)
    simulate.add_argument("--tiers", type=int, choices=(0, 1, 4, 8), default=4)
    simulate.add_argument("--pace", action="store_true", help="send at 9600 baud with meter timing")
    simulate.add_argument("--static", action="store_true", help="energy registers do not grow")
    simulate.add_argument(
        "--profile",
        choices=("fixed", "household"),
        default="fixed",
        help="the loads: fixed (constant), or a household over the day (base load, a kettle now "
        "and then, solar export at midday)",
    )
    simulate.add_argument("--seed", type=int, default=0, help="the household's random seed")
    simulate.add_argument(
        "--state-file",
        metavar="PATH",
        help="write the registers and power the meter reports (JSON) here every second",
    )
    simulate.epilog = (
        "With --tcp, SIGUSR1 unplugs the line (connections dropped, port closed) and SIGUSR2 "
        "plugs it back in on the same port; the meter keeps its registers."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    if args.command == "read":
        return asyncio.run(_read(args))
    try:
        return asyncio.run(_simulate(args))
    except KeyboardInterrupt:
        return 0


async def _read(args: argparse.Namespace) -> int:
    try:
        key = parse_key(args.key)
    except InvalidKeyFormat as err:
        return _fail(f"invalid key: {err}", 2)
    client: MeterClient | None = None
    try:
        client = await connect(args.port, args.link, key, response_timeout=args.timeout)
        assert client.identity is not None
        snapshot = await client.read()
        status = await client.read_status()
    except NesError as err:
        return _fail(FAILURE_TEXTS[error_key(err)].format(error=err))
    finally:
        if client is not None:
            await client.close()
    report = snapshot_report(client.identity, snapshot, status)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        _print_text(report)
    return 0


def snapshot_report(
    identity: MeterIdentity, snapshot: Snapshot, status: MeterStatus
) -> dict[str, Any]:
    """One JSON-ready object: identity, registers (Wh, varh), present values (SI), status."""
    return {
        "serial_number": identity.serial_number,
        "manufacturer": identity.manufacturer,
        "model": identity.model,
        "firmware": str(identity.firmware),
        "phases": identity.phases,
        "tiers_reported": identity.dimensions.tiers,
        "energy": snapshot.as_dict()["total"],
        "tiers": snapshot.as_dict()["tiers"],
        "present": {k: v for k, v in asdict(snapshot.present).items() if v is not None},
        "status": status.as_dict(),
    }


def _print_text(report: dict[str, Any]) -> None:
    print(f"Meter {report['serial_number']}: {report['manufacturer']} {report['model']}, "
          f"firmware {report['firmware']}, {report['phases']} phase(s)")  # fmt: skip
    energy = report["energy"]
    imported, exported = energy["import_wh"] / 1000, energy["export_wh"] / 1000
    print(f"  import {imported:.3f} kWh, export {exported:.3f} kWh")
    for index, tier in enumerate(report["tiers"], start=1):
        print(f"  tier {index}: import {tier['import_wh'] / 1000:.3f} kWh, "
              f"export {tier['export_wh'] / 1000:.3f} kWh")  # fmt: skip
    for name, value in report["present"].items():
        print(f"  {name}: {value:g}")
    status = report["status"]
    active = [name for name, on in (status["alarms"] or {}).items() if on]
    print(f"  tier in force: {status['current_tier']}, clock {status['clock']} (UTC)")
    print(f"  alarms: {', '.join(active) if active else 'none'}")


def _fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


async def _simulate(args: argparse.Namespace) -> int:
    meter = SimulatedMeter(phases=args.phases, tiers=args.tiers)
    if args.key:
        meter.key = parse_key(args.key)
    hooks: list[Callable[[SimulatedMeter], None]] = []
    if args.profile == "household":
        hooks.append(HouseholdProfile(seed=args.seed))
    state = StateFile(Path(args.state_file)) if args.state_file else None
    if state is not None:
        hooks.append(state)

    def on_tick(ticked: SimulatedMeter) -> None:
        for hook in hooks:
            hook(ticked)

    on_tick(meter)
    line = _Line(
        lambda: MeterSimulator(
            meter, args.link, pace=args.pace, live=not args.static, on_tick=on_tick
        )
    )
    if args.pty:
        where = await line.simulator.open_pty()
    else:
        host, _, port = args.tcp.rpartition(":")
        where = await line.serve_tcp(host or "127.0.0.1", int(port))
    print(f"Simulated NES/Echelon meter, {args.link} port, serial {meter.serial_number}")
    print(f"port: {where}")
    print(f"key: {_printable_key(meter.key)}", flush=True)
    try:
        with line.signals(enabled=not args.pty, state=state):
            await asyncio.Event().wait()
    finally:
        await line.close()
    return 0


class _Line:
    """The simulator's line; over TCP it can be unplugged and plugged in again (signals)."""

    def __init__(self, make: Callable[[], MeterSimulator]) -> None:
        self._make = make
        self.simulator: MeterSimulator = make()
        self.online = True
        self._address: tuple[str, int] = ("127.0.0.1", 0)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve_tcp(self, host: str, port: int) -> str:
        self._address = await self.simulator.serve_tcp(host, port)
        return f"socket://{self._address[0]}:{self._address[1]}"

    async def unplug(self) -> None:
        async with self._lock:
            if self.online:
                self.online = False
                await self.simulator.close()

    async def plug(self) -> None:
        async with self._lock:
            if not self.online:
                self.simulator = self._make()
                await self.simulator.serve_tcp(*self._address)
                self.online = True

    @contextlib.contextmanager
    def signals(self, *, enabled: bool, state: StateFile | None) -> Iterator[None]:
        """SIGUSR1 unplugs, SIGUSR2 plugs in (only over TCP, and in the main thread)."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []

        def later(action: Callable[[], Awaitable[None]]) -> None:
            async def run() -> None:
                await action()
                if state is not None:
                    state.online = self.online
                    state(self.simulator.meter)

            task = loop.create_task(run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        if enabled:
            for signum, action in ((signal.SIGUSR1, self.unplug), (signal.SIGUSR2, self.plug)):
                try:
                    loop.add_signal_handler(signum, later, action)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    break
                installed.append(signum)
        try:
            yield
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.unplug()


class StateFile:
    """What the meter reports, in a JSON file rewritten every second (atomically).

    `history` holds the last readings (oldest first): a reader polling the meter can find the
    values it read there, though the registers grew since.
    """

    KEEP = 180

    def __init__(self, path: Path) -> None:
        self.path = path
        self.online = True
        self.history: list[dict[str, Any]] = []

    def __call__(self, meter: SimulatedMeter) -> None:
        registers = meter.registers(0)
        slots = meter.present_slots()
        self.history.append(
            {
                "time": round(time.time(), 3),
                "energy_import_wh": registers[0],
                "energy_export_wh": registers[1],
                "power_import_w": slots[0],
                "power_export_w": slots[1],
            }
        )
        del self.history[: -self.KEEP]
        report = {"online": self.online, "serial_number": meter.serial_number}
        report |= {"now": self.history[-1], "history": self.history}
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(report), encoding="utf-8")
        os.replace(partial, self.path)


def _printable_key(key: bytes) -> str:
    text = key.decode("ascii", "replace")
    return text if key.isascii() and text.isprintable() else key.hex()
