"""Every fault the simulator injects: the client reports the true values or a clear error.

A response spoiled on the wire is never decoded: the client asks again (or the meter sends
the packet again after a NAK) and the values it reports are the meter's.
"""

from __future__ import annotations

import asyncio

import pytest

from custom_components.nes_echelon.nes_client import IntegrityError, LinkError, NoResponse, optical
from custom_components.nes_echelon.nes_client.client import MeterClient
from nes_echelon_dev.simulator import Faults, SimulatedMeter
from tests.nes_client.conftest import TIMEOUT, Link, RunningMeter, StartMeter
from tests.nes_client.expect import assert_snapshot

SHORT = 0.3  # response timeout where a test waits for timeouts on purpose


def retransmissions(client: MeterClient) -> int:
    return int(client.link.retransmissions)  # type: ignore[attr-defined]


async def read_after(running: RunningMeter, client: MeterClient, **faults: float | bool) -> None:
    """Arm the faults (they hit the next responses), poll, and check every value."""
    for name, value in faults.items():
        setattr(running.faults, name, value)
    assert_snapshot(await client.read(), running.meter)


# -- both links -------------------------------------------------------------------------------


async def test_silence_then_retry(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client(response_timeout=SHORT)
    await read_after(running, client, silence=1)
    assert retransmissions(client) == 1


async def test_silence_at_connect(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link, faults=Faults(silence=2))
    client = await running.client(response_timeout=SHORT)
    assert retransmissions(client) == 2
    assert_snapshot(await client.read(), running.meter)


async def test_all_silent_is_no_response_and_the_next_poll_recovers(
    start_meter: StartMeter, link: Link
) -> None:
    running = await start_meter(link=link)
    client = await running.client(response_timeout=SHORT)
    running.faults.silence = 3
    with pytest.raises(NoResponse):
        await client.read()
    assert retransmissions(client) == 2  # three sends in all
    # The meter is back: the next poll reports the true values (no reply is mistaken for
    # another request's, whatever state the failed exchange left behind).
    assert_snapshot(await client.read(), running.meter)
    assert_snapshot(await client.read(), running.meter)


async def test_all_silent_at_connect(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link, faults=Faults(silence=10))
    with pytest.raises(NoResponse):
        await running.client(response_timeout=SHORT)


async def test_garbage_before_the_response(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client(response_timeout=SHORT)
    await read_after(running, client, garbage=1)
    await read_after(running, client, garbage=2)


@pytest.mark.parametrize(
    "junk",
    [b"\x00\x03\x01\x02\x03", b"\xff\xff\x01\x02\x03", b"\x00\x00\x00\x00\x07"],
    ids=["short-packet", "overlong-length", "alerts-then-junk"],
)
async def test_mep_garbage_that_looks_like_framing(
    start_meter: StartMeter, fixed_garbage: list[bytes], junk: bytes
) -> None:
    """No start byte on MEP: junk shaped like a length, a packet or an alert is survived."""
    fixed_garbage[0] = junk
    running = await start_meter(link="mep")
    client = await running.client(response_timeout=SHORT)
    await read_after(running, client, garbage=1)
    assert_snapshot(await client.read(), running.meter)


@pytest.mark.parametrize(
    "junk",
    [b"\x9a\x15\x31\xc4\x7f\x02\x5d", b"\xee\x00\x00\x00\x00\x40\x33"],
    ids=["stray-nak", "half-frame-start"],
)
async def test_optical_garbage_that_looks_like_framing(
    start_meter: StartMeter, fixed_garbage: list[bytes], junk: bytes
) -> None:
    """A NAK byte or a frame start in the noise before a response."""
    fixed_garbage[0] = junk
    running = await start_meter(link="optical")
    client = await running.client(response_timeout=SHORT)
    await read_after(running, client, garbage=1)
    assert_snapshot(await client.read(), running.meter)


async def test_truncated_response(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client(response_timeout=SHORT)
    await read_after(running, client, truncate=1)
    assert retransmissions(client) == 1


async def test_always_truncated_is_no_response(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client(response_timeout=SHORT)
    running.faults.truncate = 3
    with pytest.raises(NoResponse):
        await client.read()
    assert_snapshot(await client.read(), running.meter)


async def test_slow_within_the_timeout(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client(response_timeout=0.8)
    await read_after(running, client, slow=1, slow_seconds=0.1)
    assert retransmissions(client) == 0


async def test_slow_beyond_the_timeout(start_meter: StartMeter, link: Link) -> None:
    """The late reply still counts; the answer to the resent request is dropped, not decoded,
    and it does not spill over into the next polls."""
    running = await start_meter(link=link)
    client = await running.client(response_timeout=SHORT)
    await read_after(running, client, slow=1, slow_seconds=SHORT * 1.5)
    assert retransmissions(client) == 1
    for _ in range(3):
        assert_snapshot(await client.read(), running.meter)
    assert retransmissions(client) == 1
    if link == "mep":
        assert client.link.digest_failures == 0  # type: ignore[attr-defined]


async def test_slower_than_every_retry(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client(response_timeout=SHORT)
    running.faults.slow = 1
    running.faults.slow_seconds = SHORT * 4
    with pytest.raises(NoResponse):
        await client.read()
    await asyncio.sleep(SHORT * 2)  # the late answers arrive meanwhile
    assert_snapshot(await client.read(), running.meter)
    assert_snapshot(await client.read(), running.meter)


@pytest.mark.parametrize("when", ["connect", "read"])
async def test_disconnect_is_a_link_error(start_meter: StartMeter, link: Link, when: str) -> None:
    running = await start_meter(link=link)
    if when == "connect":
        running.faults.disconnect = 1
        with pytest.raises(LinkError) as caught:
            await running.client()
    else:
        client = await running.client()
        running.faults.disconnect = 1
        with pytest.raises(LinkError) as caught:
            await client.read()
    assert not isinstance(caught.value, NoResponse)
    assert "closed" in str(caught.value)


# -- optical ------------------------------------------------------------------------------------


async def test_bad_crc_is_naked_and_sent_again(start_meter: StartMeter) -> None:
    running = await start_meter()
    client = await running.client()
    await read_after(running, client, bad_crc=1)
    assert running.sim.port.naks_received == 1  # type: ignore[union-attr]
    assert retransmissions(client) == 0


async def test_bad_crc_on_the_first_packet_of_a_long_response(start_meter: StartMeter) -> None:
    """A two-packet reply whose first packet fails: the second is never taken for the whole."""
    running = await start_meter()
    client = await running.client()
    assert client.link.max_read > 64 - 12  # negotiated 2 x 64-byte packets
    running.faults.bad_crc = 1
    assert_snapshot(await client.read(), running.meter)  # BT23 first: a 2-packet reply
    assert running.sim.port.naks_received == 1  # type: ignore[union-attr]


async def test_bad_crc_on_every_resend(start_meter: StartMeter) -> None:
    running = await start_meter()
    client = await running.client()  # no timeout is waited for: exact counts hold under load
    await read_after(running, client, bad_crc=3)  # three bad packets: ask again
    assert retransmissions(client) == 1
    running.faults.bad_crc = 9
    with pytest.raises(IntegrityError, match="CRC"):
        await client.read()
    assert_snapshot(await client.read(), running.meter)


async def test_bad_crc_at_connect(start_meter: StartMeter) -> None:
    running = await start_meter(faults=Faults(bad_crc=2))
    client = await running.client()
    assert running.sim.port.naks_received == 2  # type: ignore[union-attr]
    assert_snapshot(await client.read(), running.meter)


async def test_meter_naks_the_request(start_meter: StartMeter) -> None:
    running = await start_meter()
    client = await running.client()  # no timeout is waited for: exact counts hold under load
    await read_after(running, client, nak=2)
    assert retransmissions(client) == 2
    running.faults.nak = 3
    with pytest.raises(NoResponse):
        await client.read()
    assert_snapshot(await client.read(), running.meter)


async def test_late_duplicate_with_the_other_toggle(start_meter: StartMeter) -> None:
    running = await start_meter(faults=Faults(duplicate_toggle=3))
    client = await running.client()
    await read_after(running, client, duplicate_toggle=5)
    assert retransmissions(client) == 0


async def test_mep_packet_leaking_onto_the_optical_line(start_meter: StartMeter) -> None:
    running = await start_meter(faults=Faults(mep_leak=2))
    client = await running.client()
    await read_after(running, client, mep_leak=4)
    assert retransmissions(client) == 0


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_echoing_ir_head(start_meter: StartMeter, via: str) -> None:
    running = await start_meter(via=via, faults=Faults(echo=True))  # type: ignore[arg-type]
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    assert client.link.echo_bytes_dropped > 0  # type: ignore[attr-defined]
    status = await client.read_status()
    assert status.alarms == running.meter.alarms


async def test_first_frame_lost_on_a_shared_uart(start_meter: StartMeter) -> None:
    """Gen 2/3: the first 0xEE switches the UART to optical and is NAKed; it is repeated."""
    running = await start_meter(faults=Faults(first_frame_nak=True))
    client = await running.client()
    assert retransmissions(client) == 1
    assert_snapshot(await client.read(), running.meter)
    assert retransmissions(client) == 1


async def test_first_frame_nak_on_every_new_session(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optical, "SESSION_MAX_AGE", 0.0)  # a new session for every request
    monkeypatch.setattr(optical, "NAK_PAUSE", 0.01)
    running = await start_meter(faults=Faults(first_frame_nak=True))
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    port = running.sim.port
    assert getattr(port, "sessions", 0) > 2
    assert retransmissions(client) == port.sessions  # type: ignore[union-attr]


# -- MEP ----------------------------------------------------------------------------------------


async def test_bad_digest_is_never_decoded(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    client = await running.client()
    await read_after(running, client, bad_digest=1)
    assert client.link.digest_failures == 1  # type: ignore[attr-defined]
    assert retransmissions(client) == 1
    await read_after(running, client, bad_digest=2)
    assert client.link.digest_failures == 3  # type: ignore[attr-defined]


async def test_bad_digest_every_time(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    client = await running.client()
    running.faults.bad_digest = 3
    with pytest.raises(IntegrityError, match="digest"):
        await client.read()
    assert_snapshot(await client.read(), running.meter)


async def test_bad_digest_at_connect(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep", faults=Faults(bad_digest=1))
    client = await running.client()
    assert client.link.digest_failures == 1  # type: ignore[attr-defined]
    assert client.identity is not None
    assert client.identity.serial_number == running.meter.serial_number


async def test_meter_forgets_the_sequence_number(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    client = await running.client()
    await read_after(running, client, forget_sequence=1)
    await read_after(running, client, forget_sequence=2)
    assert client.link.sequence == running.sim.port.last_sequence + 1  # type: ignore[attr-defined, union-attr]
    assert retransmissions(client) == 0  # a 0x0C is answered with a new number, not a resend
    running.faults.forget_sequence = 3
    with pytest.raises(IntegrityError, match="sequence"):
        await client.read()
    assert_snapshot(await client.read(), running.meter)


async def test_alert_before_a_response(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep", faults=Faults(alert_before_response=1))
    client = await running.client()
    await read_after(running, client, alert_before_response=3)
    assert client.link.alerts_seen == 4  # type: ignore[attr-defined]
    assert retransmissions(client) == 0


async def test_alerts_between_packets(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`00 00` once a period while idle: consumed between packets, sync never lost."""
    from nes_echelon_dev.simulator import mep_port

    monkeypatch.setattr(mep_port, "ALERT_PERIOD", 0.02)
    running = await start_meter(SimulatedMeter(), link="mep", faults=Faults(alerts=True))
    client = await running.client(response_timeout=TIMEOUT)
    for _ in range(3):
        await asyncio.sleep(0.07)
        assert_snapshot(await client.read(), running.meter)
    assert client.link.alerts_seen >= 2  # type: ignore[attr-defined]
    assert retransmissions(client) == 0
