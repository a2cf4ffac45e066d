"""The optical link (ANSI C12.18): session, toggle bit, packets, NAK/retransmission, echo,
session aging. Scripted exchanges where a meter would have to misbehave on cue, the simulator
where a real session is wanted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from custom_components.nes_echelon.nes_client import (
    AuthenticationFailed,
    NoResponse,
    PsemError,
    optical,
    psem,
)
from custom_components.nes_echelon.nes_client.client import MeterClient
from custom_components.nes_echelon.nes_client.connection import open_stream
from custom_components.nes_echelon.nes_client.errors import InvalidServiceSequence
from custom_components.nes_echelon.nes_client.keys import optical_password
from custom_components.nes_echelon.nes_client.optical import OpticalLink
from custom_components.nes_echelon.nes_client.optical_frame import ACK, NAK, encode_frame
from custom_components.nes_echelon.nes_client.stream import ByteStream
from tests.nes_client.conftest import RunningMeter, StartMeter
from tests.nes_client.expect import assert_snapshot
from tests.nes_client.scripted import (
    ScriptedStream,
    frames_in,
    optical_meter,
    read_reply,
    reply,
    requests_in,
)

READ = psem.partial_read(23, 0, 8)
IDENTIFICATION = bytes.fromhex("EE 00 00 00 00 01 20 13 10")  # [CAP]


def link_on(
    stream: ScriptedStream, password: bytes = b"0123456789ABCDEFGHIJ", **kw: Any
) -> OpticalLink:
    kw.setdefault("response_timeout", 0.1)
    return OpticalLink(stream, password, **kw)  # type: ignore[arg-type]


def sent_services(stream: ScriptedStream) -> list[int]:
    return [request[0] for request in requests_in(stream.written)]


# -- session ------------------------------------------------------------------------------------


async def test_session_opening() -> None:
    stream = ScriptedStream(optical_meter())
    link = link_on(stream, optical_password(b"short-key"))
    await link.open()
    assert stream.written[0] == IDENTIFICATION
    frames = frames_in(stream.written)
    assert [frame.data for frame in frames] == [
        b"\x20",
        b"\x61\x00\x40\x02\x06",  # 64-byte packets, 2 of them, 9600 baud
        b"\x50\x00\x02HA        ",  # logon: user id 2, name space-padded to 10
        b"\x51short-key" + bytes(11),  # the password: exactly 20 bytes, NUL-padded
    ]
    assert [frame.toggle for frame in frames] == [False, True, False, True]
    assert link.max_read == 2 * (64 - 8) - 4
    # Every response frame was ACKed.
    assert stream.written.count(bytes([ACK])) == 4

    data = await link.request(READ)
    assert psem.read_data(data, checksum=True) == bytes(8)
    read = frames_in(stream.written)[-1]
    assert (read.data, read.toggle) == (READ, False)  # the toggle flips for every new request


@pytest.mark.parametrize(
    ("answer", "max_read"),
    [
        (b"\x00\x00\x40\x02\x06", 108),
        (b"\x00\x00\x80\x01\x06", 116),
        (b"\x02", 52),  # refused: keep C12.18's default packet
        (b"\x00\x00\x10\x01\x06", 52),  # an implausible packet size is ignored
        (b"\x00\x00", 52),  # too short to say anything
    ],
    ids=["2x64", "1x128", "refused", "tiny", "short"],
)
async def test_negotiate(answer: bytes, max_read: int) -> None:
    stream = ScriptedStream(optical_meter(negotiate=answer))
    link = link_on(stream)
    await link.open()
    assert link.max_read == max_read


async def test_negotiate_can_be_skipped() -> None:
    stream = ScriptedStream(optical_meter())
    link = link_on(stream, negotiate=False)
    await link.open()
    assert sent_services(stream) == [0x20, 0x50, 0x51]
    assert link.max_read == 52


@pytest.mark.parametrize(
    "refusal", [b"\x0b", b"\x03", b"\x01", b""], ids=["0B", "03", "01", "empty"]
)
async def test_refused_password_ends_the_session_and_is_never_retried(refusal: bytes) -> None:
    stream = ScriptedStream(optical_meter(security=refusal))
    link = link_on(stream)
    with pytest.raises(AuthenticationFailed):
        await link.open()
    assert sent_services(stream) == [0x20, 0x61, 0x50, 0x51, 0x52, 0x21]  # logoff, terminate
    written = len(stream.written)
    with pytest.raises(AuthenticationFailed):
        await link.open()
    with pytest.raises(AuthenticationFailed):
        await link.request(READ)
    assert len(stream.written) == written  # nothing more reached the meter
    await link.close()
    assert stream.closed
    assert len(stream.written) == written


async def test_identification_refused() -> None:
    def respond(data: bytes) -> list[bytes] | None:
        return [reply(b"\x0a", data)] if frames_in([data]) else None

    link = link_on(ScriptedStream(respond))
    with pytest.raises(InvalidServiceSequence):
        await link.open()


async def test_response_without_its_ack_is_accepted() -> None:
    base = optical_meter()

    def respond(data: bytes) -> list[bytes] | None:
        answers = base(data)
        return [bytes(answers[0])[1:]] if answers else None  # type: ignore[index]

    stream = ScriptedStream(respond)
    link = link_on(stream)
    await link.open()
    assert psem.read_data(await link.request(READ), checksum=True) == bytes(8)
    assert link.retransmissions == 0


# -- packets ------------------------------------------------------------------------------------


def packets(response: bytes, request: bytes, size: int = 40) -> list[bytes]:
    """The response frames of a multi-packet reply (no ACK)."""
    toggle = bool(request[2] & 0x20)
    parts = [response[i : i + size] for i in range(0, len(response), size)]
    return [
        encode_frame(
            part,
            toggle=toggle,
            seq=len(parts) - 1 - index,
            multi_packet=True,
            first_packet=index == 0,
        )
        for index, part in enumerate(parts)
    ]


TABLE = bytes(range(100))


async def multi_packet_link(arrange: Any) -> tuple[OpticalLink, ScriptedStream]:
    """A link whose reads get a 3-packet reply, its frames arranged by `arrange(frames)`."""
    calls = {"reads": 0}
    base = optical_meter()

    def respond(data: bytes) -> list[Any] | None:
        frames = frames_in([data])
        if not frames or frames[0].data[0] != 0x3F:
            return base(data)  # type: ignore[return-value]
        calls["reads"] += 1
        return [bytes([ACK]), *arrange(packets(read_reply(TABLE), data), calls["reads"])]

    stream = ScriptedStream(respond)
    link = link_on(stream)
    await link.open()
    return link, stream


@pytest.mark.parametrize(
    "arrange",
    [
        lambda f, n: f,
        lambda f, n: [f[1], f[0], f[1], f[2]],  # a stray middle packet before the start
        lambda f, n: [f[0], f[0], f[1], bytes([NAK]), f[1], f[2]],  # repeats and noise
        lambda f, n: [f[0], f[1], f[0], f[1], f[2]],  # the start sent again: begin afresh
    ],
    ids=["in-order", "stray-middle-first", "repeats-and-nak", "restart"],
)
async def test_multi_packet_response_is_joined_in_order(arrange: Any) -> None:
    link, _ = await multi_packet_link(arrange)
    data = psem.read_data(await link.request(psem.partial_read(23, 0, 100)), checksum=True)
    assert data == TABLE
    assert link.retransmissions == 0


async def test_lost_packet_is_never_papered_over() -> None:
    """Packet 2 of 3 lost: the response is incomplete and asked for again, never joined."""
    link, _ = await multi_packet_link(lambda f, n: [f[0], f[2]] if n == 1 else f)
    data = psem.read_data(await link.request(psem.partial_read(23, 0, 100)), checksum=True)
    assert data == TABLE
    assert link.retransmissions == 1


async def test_bad_frames_are_naked_then_the_request_is_resent() -> None:
    calls = {"reads": 0}
    base = optical_meter()

    def respond(data: bytes) -> list[bytes] | None:
        answers = base(data)
        frames = frames_in([data])
        if not frames or frames[0].data[0] != 0x3F:
            return answers  # type: ignore[return-value]
        calls["reads"] += 1
        good = bytes(answers[0])  # type: ignore[index]
        if calls["reads"] == 1:  # three corrupted copies: the link gives up on this attempt
            bad = good[:-1] + bytes([good[-1] ^ 0x55])
            return [bad, bad[1:], bad[1:]]
        return [good]

    stream = ScriptedStream(respond)
    link = link_on(stream)
    await link.open()
    naks_before = stream.written.count(bytes([NAK]))
    assert psem.read_data(await link.request(READ), checksum=True) == bytes(8)
    assert stream.written.count(bytes([NAK])) - naks_before == 3
    assert link.retransmissions == 1


# -- echo ---------------------------------------------------------------------------------------


def echoing(base: Any, *, split: int | None = None, stop_after: int | None = None) -> Any:
    """An IR head that hears its own transmissions: every write comes back first."""
    count = {"writes": 0}

    def respond(data: bytes) -> list[bytes]:
        count["writes"] += 1
        echo = [] if stop_after is not None and count["writes"] > stop_after else [data]
        if split is not None and len(data) > split and echo:
            echo = [data[:split], data[split:]]
        return [*echo, *(base(data) or [])]

    return respond


@pytest.mark.parametrize("split", [None, 3], ids=["whole", "split"])
async def test_echo_is_dropped(split: int | None) -> None:
    stream = ScriptedStream(echoing(optical_meter(), split=split))
    link = link_on(stream)
    await link.open()
    assert psem.read_data(await link.request(READ), checksum=True) == bytes(8)
    # Everything sent came back and was dropped, but for the last ACK's echo (still unread).
    assert link.echo_bytes_dropped == sum(len(chunk) for chunk in stream.written) - 1


async def test_echo_that_stops() -> None:
    """A head that stops echoing mid-session: the values still come through right (the echo
    dropper may eat the start of a reply that matches the missing echo, costing a resend)."""
    stream = ScriptedStream(echoing(optical_meter(), stop_after=3))
    link = link_on(stream, response_timeout=0.05)
    await link.open()
    for _ in range(3):
        assert psem.read_data(await link.request(READ), checksum=True) == bytes(8)
    assert link.echo_bytes_dropped > 0


async def test_reply_sharing_the_requests_first_bytes_is_not_an_echo() -> None:
    """The Identification reply starts like the request (EE 00 00 00 00): bytes are held
    until they differ, then handed over whole."""
    base = optical_meter()

    def respond(data: bytes) -> list[bytes] | None:
        answers = base(data)
        if not answers:
            return None
        whole = bytes(answers[0])  # type: ignore[index]
        return [bytes([byte]) for byte in whole]  # one byte per read

    stream = ScriptedStream(respond)
    link = link_on(stream)
    await link.open()
    assert psem.read_data(await link.request(READ), checksum=True) == bytes(8)
    assert link.echo_bytes_dropped == 0


# -- close --------------------------------------------------------------------------------------


async def test_close_ends_a_live_session() -> None:
    stream = ScriptedStream(optical_meter())
    link = link_on(stream)
    await link.request(READ)  # opens the session on first use
    await link.close()
    assert sent_services(stream)[-2:] == [0x52, 0x21]  # logoff, terminate
    assert stream.closed


async def test_close_after_the_meter_timed_the_session_out() -> None:
    now = [100.0]
    stream = ScriptedStream(optical_meter())
    link = link_on(stream, clock=lambda: now[0])
    await link.request(READ)
    sent = len(stream.written)
    now[0] += optical.IDLE_LIMIT + 1
    await link.close()
    assert len(stream.written) == sent  # nothing to end: the meter has dropped it
    assert stream.closed


async def test_close_on_a_dead_line_never_raises() -> None:
    stream = ScriptedStream(optical_meter())
    link = link_on(stream, response_timeout=0.05)
    await link.open()
    stream.responder = None  # the probe fell off
    await link.close()
    assert stream.closed


async def test_close_without_a_session() -> None:
    stream = ScriptedStream(optical_meter())
    link = link_on(stream)
    await link.close()
    assert stream.written == []
    assert stream.closed


# -- session aging, against the simulator -------------------------------------------------------


class Recorder:
    """Wraps a link's stream: the PSEM services sent, in order."""

    def __init__(self, link: OpticalLink) -> None:
        self.chunks: list[bytes] = []
        stream: ByteStream = link._stream
        original = stream.write

        async def write(data: bytes) -> None:
            self.chunks.append(bytes(data))
            await original(data)

        stream.write = write  # type: ignore[method-assign]

    @property
    def services(self) -> list[int]:
        return [request[0] for request in requests_in(self.chunks)]


async def clocked_client(running: RunningMeter, clock: Any) -> MeterClient:
    reader, writer = await open_stream(running.port)
    stream = ByteStream(reader, writer, secret=running.key)
    client = MeterClient(OpticalLink(stream, running.key, response_timeout=0.3, clock=clock))
    running.clients.append(client)
    await client.connect()
    return client


def sessions(running: RunningMeter) -> int:
    return int(running.sim.port.sessions)  # type: ignore[union-attr]


async def test_session_past_its_age_is_ended_and_reopened(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polls inside the traffic timeout keep one session, until it nears the 600 s cut."""
    monkeypatch.setattr(optical, "SESSION_MAX_AGE", 10.0)
    now = [1000.0]
    running = await start_meter()
    client = await clocked_client(running, lambda: now[0])
    recorder = Recorder(client.link)  # type: ignore[arg-type]
    for _ in range(2):
        now[0] += 4  # a poll every 4 s
        assert_snapshot(await client.read(), running.meter)
    assert sessions(running) == 1
    assert 0x20 not in recorder.services
    now[0] += 4  # 12 s old: end it politely, open a new one
    assert_snapshot(await client.read(), running.meter)
    assert sessions(running) == 2
    services = recorder.services
    assert services[: services.index(0x20)][-2:] == [0x52, 0x21]  # logoff, terminate first


async def test_idle_session_is_reopened_without_ending_it(start_meter: StartMeter) -> None:
    now = [1000.0]
    running = await start_meter()
    client = await clocked_client(running, lambda: now[0])
    recorder = Recorder(client.link)  # type: ignore[arg-type]
    now[0] += optical.IDLE_LIMIT + 0.5  # the meter's 6 s traffic timeout is near or past
    assert_snapshot(await client.read(), running.meter)
    assert sessions(running) == 2
    assert recorder.services[0] == 0x20  # straight to Identification: nothing to log off


async def test_session_aging_with_short_limits(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = await start_meter()
    client = await running.client()
    monkeypatch.setattr(optical, "IDLE_LIMIT", 0.05)
    await asyncio.sleep(0.08)
    assert_snapshot(await client.read(), running.meter)
    assert sessions(running) == 2
    monkeypatch.setattr(optical, "IDLE_LIMIT", 5.0)
    monkeypatch.setattr(optical, "SESSION_MAX_AGE", 0.05)
    await asyncio.sleep(0.08)
    assert_snapshot(await client.read(), running.meter)
    assert sessions(running) == 3


async def test_meter_dropped_the_session_first(start_meter: StartMeter) -> None:
    """The meter timed the session out before the client thought: 0x0A, reopen, read again."""
    running = await start_meter()
    client = await running.client()
    running.sim.port._traffic_timeout = 0.05  # type: ignore[union-attr]
    await asyncio.sleep(0.08)
    requests = client.requests
    assert_snapshot(await client.read(), running.meter)
    assert sessions(running) == 2
    assert client.requests > requests + 2  # the refused read was sent again


async def test_a_session_past_the_meters_limit_locks_optical_out(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why sessions end early: past the meter's limit it ignores optical for 300 s."""
    monkeypatch.setattr(optical, "SESSION_MAX_AGE", 1000.0)
    running = await start_meter()
    client = await running.client(response_timeout=0.05)
    running.sim.port._session_limit = 0.05  # type: ignore[union-attr]
    await asyncio.sleep(0.08)
    with pytest.raises(NoResponse):
        await client.read()
    with pytest.raises(NoResponse):
        await client.read()


async def test_session_age_limit_stays_clear_of_the_meters(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scaled-down limits, with margins wide enough for a loaded CI machine.
    monkeypatch.setattr(optical, "SESSION_MAX_AGE", 0.15)
    running = await start_meter()
    client = await running.client(response_timeout=0.5)
    running.sim.port._session_limit = 0.6  # type: ignore[union-attr]
    for _ in range(4):
        await asyncio.sleep(0.17)
        assert_snapshot(await client.read(), running.meter)
    assert sessions(running) >= 4


async def test_psem_error_on_a_session_service() -> None:
    """A logon refused with an unknown code surfaces as a PsemError, not as a key problem."""
    base = optical_meter()

    def respond(data: bytes) -> list[bytes] | None:
        frames = frames_in([data])
        if frames and frames[0].data[0] == 0x50:
            return [reply(b"\x04", data)]
        return base(data)  # type: ignore[return-value]

    link = link_on(ScriptedStream(respond))
    with pytest.raises(PsemError) as caught:
        await link.open()
    assert not isinstance(caught.value, AuthenticationFailed)
    assert caught.value.code == 0x04
