"""A wrong key fails clearly, once: the meter logs every rejected try, so none is repeated."""

from __future__ import annotations

import pytest

from custom_components.nes_echelon.nes_client import AuthenticationFailed, NesError
from tests.nes_client.conftest import Link, StartMeter, Via
from tests.nes_client.expect import assert_snapshot

WRONG_KEY = b"NOT-THE-RIGHT-KEY-20"


def bytes_sent(client: object) -> int:
    return int(client.link._stream.bytes_sent)  # type: ignore[attr-defined]


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_wrong_optical_key(start_meter: StartMeter, via: Via) -> None:
    running = await start_meter(link="optical", via=via)
    client = await running.unconnected(WRONG_KEY)
    with pytest.raises(AuthenticationFailed):
        await client.connect()
    assert running.failed_logons == 1
    sent = bytes_sent(client)
    for _ in range(3):  # the integration or the user asking again: nothing goes out
        with pytest.raises(AuthenticationFailed):
            await client.connect()
    assert bytes_sent(client) == sent
    assert running.failed_logons == 1
    # The refusal is logged by the meter too (BT03 "invalid password").
    await client.close()  # a serial port (the pty) is opened exclusively
    good = await running.client()
    status = await good.read_status()
    assert status.alarms is not None
    assert status.alarms.invalid_password


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_wrong_mep_key(start_meter: StartMeter, via: Via) -> None:
    running = await start_meter(link="mep", via=via)
    client = await running.unconnected(WRONG_KEY)
    with pytest.raises(AuthenticationFailed):
        await client.connect()
    assert running.failed_logons == 1
    assert client.requests == 1  # the first request was the only one
    sent = bytes_sent(client)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            await client.connect()
    assert bytes_sent(client) == sent
    assert running.failed_logons == 1


async def test_connect_with_a_wrong_key_closes_the_port(
    start_meter: StartMeter, link: Link
) -> None:
    running = await start_meter(link=link)
    with pytest.raises(AuthenticationFailed) as caught:
        await running.client(WRONG_KEY)
    assert isinstance(caught.value, NesError)
    assert running.failed_logons == 1
    # The port was released: a client with the right key gets straight in.
    good = await running.client()
    assert_snapshot(await good.read(), running.meter)
    assert running.failed_logons == 1


async def test_key_changed_on_the_meter_optical(start_meter: StartMeter) -> None:
    """The utility changes the key: the next session is refused, and read() stops there."""
    running = await start_meter(link="optical")
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    running.meter.key = b"A-NEW-KEY-FROM-GRID!"
    running.sim.reboot()  # the session is gone: the client must log on again
    with pytest.raises(AuthenticationFailed):
        await client.read()
    assert running.failed_logons == 1
    sent = bytes_sent(client)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            await client.read()
    assert bytes_sent(client) == sent
    assert running.failed_logons == 1


async def test_key_changed_on_the_meter_mep(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    running.meter.key = b"A-NEW-KEY-FROM-GRID!"
    with pytest.raises(AuthenticationFailed):
        await client.read()
    assert running.failed_logons == 1
