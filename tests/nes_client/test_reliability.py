"""What a meter or a line does over years, at the client: a busy meter, a refused operation,
a line cut mid-packet, a port someone else holds, and a meter whose tables do not add up.

Only the client's own typed errors come out, and a poll after the fault works again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
import fcntl
import logging
import os

import pytest

from custom_components.nes_echelon.nes_client import (
    IntegrityError,
    LinkError,
    UnsupportedMeter,
    client as client_module,
    open_stream,
    tables,
)
from custom_components.nes_echelon.nes_client.errors import (
    DataLocked,
    DataNotReady,
    DeviceBusy,
    OperationNotPossible,
)
from nes_echelon_dev.simulator import Faults, SimulatedMeter
from tests.nes_client.conftest import Link, MeterRefuses, StartMeter, table_of
from tests.nes_client.expect import assert_snapshot


@pytest.fixture(autouse=True)
def short_busy_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BUSY_PAUSE", 0.01)


# -- busy, not ready, locked, not possible -----------------------------------------------------


async def test_busy_once_is_asked_again(start_meter: StartMeter, link: Link) -> None:
    """0x06 "busy" (the utility is reading the meter): a moment later, the same read again."""
    running = await start_meter(link=link)
    client = await running.client()
    before = client.requests
    running.faults.busy = 1
    assert_snapshot(await client.read(), running.meter)
    assert running.faults.busy == 0
    plain = await running.client()
    plain_before = plain.requests
    await plain.read()
    assert client.requests - before == plain.requests - plain_before + 1


async def test_busy_for_longer_is_reported(start_meter: StartMeter, link: Link) -> None:
    """Busy on every try: two more tries, then DeviceBusy; the next poll works."""
    running = await start_meter(link=link)
    client = await running.client()
    running.faults.busy = 3
    with pytest.raises(DeviceBusy):
        await client.read()
    assert running.faults.busy == 0
    assert_snapshot(await client.read(), running.meter)


@pytest.mark.parametrize(
    ("code", "error"), [(b"\x07", DataNotReady), (b"\x08", DataLocked)], ids=["not-ready", "locked"]
)
async def test_not_ready_and_locked_are_asked_again(
    start_meter: StartMeter, meter_refuses: MeterRefuses, link: Link, code: bytes, error: type
) -> None:
    """C12.18's other "try again later" codes: retried like busy; reported when they last."""
    running = await start_meter(link=link)
    client = await running.client()
    left = [1]

    def refuse(request: bytes) -> bytes | None:
        if table_of(request) == tables.BT28 and left[0] > 0:
            left[0] -= 1
            return code
        return None

    meter_refuses(refuse)
    assert_snapshot(await client.read(), running.meter)
    left[0] = 99
    with pytest.raises(error):
        await client.read()


async def test_operation_not_possible_is_not_asked_again(
    start_meter: StartMeter, link: Link
) -> None:
    """0x04: the meter will not do it; asking again would not help. The next poll works."""
    running = await start_meter(link=link)
    client = await running.client()
    before = client.requests
    running.faults.not_possible = 1
    with pytest.raises(OperationNotPossible):
        await client.read()
    assert client.requests == before + 1
    assert_snapshot(await client.read(), running.meter)


def test_busy_and_not_possible_faults() -> None:
    faults = Faults(busy=1, not_possible=1)
    assert faults.refusal() == b"\x06"
    assert faults.refusal() == b"\x04"
    assert faults.refusal() is None
    assert {"busy", "not_possible", "cut"} <= set(Faults.names())


# -- the line ----------------------------------------------------------------------------------


async def test_line_cut_mid_packet(start_meter: StartMeter, link: Link) -> None:
    """Half an answer, then the line is gone (probe knocked off, bridge rebooted): a
    LinkError, never a decoded half; a new connection reads the meter again."""
    running = await start_meter(link=link)
    client = await running.client()
    running.faults.cut = 1
    with pytest.raises(LinkError):
        await client.read()
    assert running.faults.cut == 0
    again = await running.client()
    assert_snapshot(await again.read(), running.meter)


async def test_a_port_is_opened_exclusively(start_meter: StartMeter) -> None:
    """Two readers on one line corrupt each other's exchanges: a port we hold cannot be
    opened again, and one another program holds fails with a message that says so."""
    running = await start_meter(via="pty")
    _, writer = await open_stream(running.port)
    try:
        with pytest.raises(LinkError, match="locked by another process"):
            await open_stream(running.port)
        fd = os.open(running.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        writer.close()
        await asyncio.sleep(0.05)  # serialx closes in the background
    client = await running.client()  # free again
    assert_snapshot(await client.read(), running.meter)


# -- tables that do not add up -----------------------------------------------------------------


class OddMeter(SimulatedMeter):
    """A meter whose BT21 says something no NES meter says."""

    odd: tables.ActualRegister | None = None

    @property
    def dimensions(self) -> tables.ActualRegister:  # type: ignore[override]
        return self.odd or super().dimensions


async def test_more_tiers_than_any_nes_meter_is_unsupported(
    start_meter: StartMeter, link: Link
) -> None:
    """A poll's requests grow with the tiers, and with 255 of them BT23's offsets no longer fit
    a partial read: a BT21 beyond what NES meters have (1, 4 or 8 tiers) is refused at
    connect, not turned into hundreds of requests per poll."""
    meter = OddMeter()
    meter.odd = tables.ActualRegister(0xFF, 0, 0, 255, 255, 255, 255, 255, 0, 55)
    running = await start_meter(meter, link=link)
    with pytest.raises(UnsupportedMeter, match="255 tiers"):
        await running.client()


async def test_the_largest_layout_of_eight_tiers_is_read(
    start_meter: StartMeter, link: Link
) -> None:
    """Every BT21 field at its maximum and 8 tiers: a 7.6 MB BT23 on paper, read 16 bytes per
    block like any other."""
    meter = OddMeter()
    meter.odd = tables.ActualRegister(0xFF, 0, 0, 255, 255, 255, 255, 8, 0, 55)
    running = await start_meter(meter, link=link)
    client = await running.client()
    assert client.identity is not None
    assert client.identity.dimensions.bt23_size > 7_000_000


async def test_a_decoder_error_becomes_an_integrity_error(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a decoder ever fail on verified data, the caller still gets the client's own
    error (Home Assistant would log a bare ValueError with a traceback on every poll)."""
    running = await start_meter()
    client = await running.client()

    def broken(*args: object) -> None:
        raise ValueError("odd slot")

    monkeypatch.setattr(tables, "decode_present_values", broken)
    with pytest.raises(IntegrityError, match="cannot be decoded: odd slot") as caught:
        await client.read()
    assert isinstance(caught.value.__cause__, ValueError)
    monkeypatch.setattr(tables, "decode_alarms", broken)
    with pytest.raises(IntegrityError):
        await client.read_status()
    monkeypatch.setattr(tables, "decode_actual_register", broken)
    with pytest.raises(UnsupportedMeter):
        await running.client()


# -- logged once, not per poll -----------------------------------------------------------------


async def test_an_echoing_head_is_reported_once(
    start_meter: StartMeter, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head does not change between reconnections: one warning, then debug lines."""
    from custom_components.nes_echelon.nes_client import optical

    monkeypatch.setattr(optical, "_echo_warned", False)
    caplog.set_level(logging.DEBUG, logger="custom_components.nes_echelon")
    running = await start_meter(faults=Faults(echo=True))
    for _ in range(3):
        client = await running.client()
        assert_snapshot(await client.read(), running.meter)
        await client.close()
    echoes = [r for r in caplog.records if "echoes" in r.getMessage()]
    assert [r.levelno for r in echoes] == [logging.WARNING, logging.DEBUG, logging.DEBUG]


async def test_a_dimension_flag_that_stays_up_is_not_logged_each_time(
    start_meter: StartMeter, caplog: pytest.LogCaptureFixture, link: Link
) -> None:
    """Some meters keep BT03's "dimension change" flag up: the dimensions are read again at
    each status read, quietly (the integration logs a change when there is one)."""
    caplog.set_level(logging.DEBUG, logger="custom_components.nes_echelon")
    meter = SimulatedMeter()
    meter.alarms = replace(meter.alarms, dimension_change=True)
    running = await start_meter(meter, link=link)
    client = await running.client()
    for _ in range(3):
        await client.read_status()
    assert [
        r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("custom")
    ] == []
