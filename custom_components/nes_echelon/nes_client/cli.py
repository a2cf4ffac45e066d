"""`read` a meter (or the simulator) and print one snapshot.

The `nes-echelon` command adds `simulate` (nes_echelon_dev.cli, not shipped to Home Assistant).
"""

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
from .errors import InvalidKeyFormat, NesError, error_key
from .keys import parse_key
from .model import MeterIdentity, MeterStatus, Snapshot

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
    parser, _ = base_parser()
    return parser


def base_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[Any]]:
    """The parser with `read`, and its subcommands for another command to add to."""
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
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args)
    return asyncio.run(read_command(args))


def configure_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )


async def read_command(args: argparse.Namespace) -> int:
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
