"""The `nes-echelon` command: the protocol client's `read`, and `simulate` a meter.

`simulate` runs the meter simulator (this development package) on a TCP port or a pty; the
rest of the command is the client's own (custom_components/nes_echelon/nes_client/cli.py).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
import json
import os
from pathlib import Path
import signal
import time
from typing import Any

from custom_components.nes_echelon.nes_client import cli as client_cli
from custom_components.nes_echelon.nes_client.connection import LinkKind
from custom_components.nes_echelon.nes_client.keys import parse_key

from .simulator import HouseholdProfile, MeterSimulator, SimulatedMeter


def build_parser() -> argparse.ArgumentParser:
    parser, commands = client_cli.base_parser()
    parser.description = __doc__
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
    client_cli.configure_logging(args)
    if args.command == "read":
        return asyncio.run(client_cli.read_command(args))
    try:
        return asyncio.run(_simulate(args))
    except KeyboardInterrupt:
        return 0


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
