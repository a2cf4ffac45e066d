"""`read` a meter (or the simulator) and print one snapshot; `simulate` a meter."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
import json
import logging
import sys
from typing import Any

from .client import MeterClient
from .connection import LinkKind, connect
from .errors import (
    AuthenticationFailed,
    IntegrityError,
    InvalidKeyFormat,
    LinkError,
    NesError,
    NoResponse,
    UnsupportedMeter,
)
from .keys import parse_key
from .model import MeterIdentity, MeterStatus, Snapshot
from .simulator import MeterSimulator, SimulatedMeter

PROG = "python -m custom_components.nes_echelon.nes_client"


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
    except AuthenticationFailed:
        return _fail("authentication failed: check the meter key")
    except NoResponse:
        return _fail("no answer from the meter: check the probe's position, the port and --link")
    except LinkError as err:
        return _fail(f"port problem: {err}")
    except IntegrityError as err:
        return _fail(f"the meter's answers kept failing their checks: {err}")
    except UnsupportedMeter as err:
        return _fail(f"unsupported meter: {err}")
    except NesError as err:
        return _fail(f"meter error: {err}")
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
    simulator = MeterSimulator(meter, args.link, pace=args.pace, live=not args.static)
    if args.pty:
        where = await simulator.open_pty()
    else:
        host, _, port = args.tcp.rpartition(":")
        bound_host, bound_port = await simulator.serve_tcp(host or "127.0.0.1", int(port))
        where = f"socket://{bound_host}:{bound_port}"
    print(f"Simulated NES/Echelon meter, {args.link} port, serial {meter.serial_number}")
    print(f"port: {where}")
    print(f"key: {_printable_key(meter.key)}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.close()
    return 0


def _printable_key(key: bytes) -> str:
    text = key.decode("ascii", "replace")
    return text if key.isascii() and text.isprintable() else key.hex()
