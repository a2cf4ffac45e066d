"""The MEP link: digests checked on every reply, 0x0C resynchronisation, alerts, a bare 0x0B,
timing. Scripted exchanges for what the simulator does not do on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from custom_components.nes_echelon.nes_client import (
    AuthenticationFailed,
    IntegrityError,
    NoResponse,
    mep,
    psem,
)
from custom_components.nes_echelon.nes_client.errors import PsemError
from custom_components.nes_echelon.nes_client.mep import MepLink
from custom_components.nes_echelon.nes_client.mep_packet import MAX_BODY, encode_request
from tests.nes_client.conftest import StartMeter
from tests.nes_client.expect import assert_snapshot
from tests.nes_client.scripted import Piece, ScriptedStream, mep_reply

KEY = bytes(range(1, 17))
READ = psem.partial_read(23, 0, 8)
TABLE = bytes(range(8))


def ok_reply(packet: bytes) -> bytes:
    return mep_reply(packet, b"\x00\x00\x08" + TABLE, KEY)


def link_on(stream: ScriptedStream, **kw: Any) -> MepLink:
    kw.setdefault("response_timeout", 0.1)
    kw.setdefault("sequence", 0x01020304)
    return MepLink(stream, KEY, **kw)  # type: ignore[arg-type]


def sequence_of(packet: bytes) -> int:
    return int.from_bytes(packet[-12:-8], "big")


async def test_request_packet_and_verified_reply() -> None:
    stream = ScriptedStream(lambda packet: [ok_reply(packet)])
    link = link_on(stream)
    await link.open()  # nothing to open on MEP
    assert stream.written == []
    response = await link.request(READ)
    assert psem.read_data(response, checksum=False) == TABLE
    assert stream.written == [encode_request(READ, 0x01020304, KEY)]
    assert link.sequence == 0x01020305
    await link.request(READ)
    assert sequence_of(stream.written[-1]) == 0x01020305
    await link.close()
    assert stream.closed


async def test_sequence_number_wraps() -> None:
    stream = ScriptedStream(lambda packet: [ok_reply(packet)])
    link = link_on(stream, sequence=0xFFFFFFFF)
    await link.request(READ)
    assert link.sequence == 0
    await link.request(READ)
    assert sequence_of(stream.written[-1]) == 0


async def test_any_start_sequence_is_resynchronised() -> None:
    """The meter answers a wrong number with its own (0x0C): resend with that + 1."""
    meter_sequence = 0x77635B90

    def respond(packet: bytes) -> list[Piece]:
        if sequence_of(packet) != meter_sequence + 1:
            return [mep_reply(packet, b"\x0c" + meter_sequence.to_bytes(4, "big"), KEY)]
        return [ok_reply(packet)]

    stream = ScriptedStream(respond)
    link = link_on(stream)
    assert psem.read_data(await link.request(READ), checksum=False) == TABLE
    assert [sequence_of(packet) for packet in stream.written] == [0x01020304, 0x77635B91]
    assert link.sequence == 0x77635B92
    assert link.retransmissions == 0


async def test_a_reply_with_a_bad_digest_is_never_returned() -> None:
    replies = iter(["bad", "good"])

    def respond(packet: bytes) -> list[Piece]:
        good = ok_reply(packet)
        if next(replies) == "bad":  # the data says 0xFF.., the digest is the real one's
            return [good[:5] + b"\xff" * 8 + good[13:]]
        return [good]

    stream = ScriptedStream(respond)
    link = link_on(stream)
    assert psem.read_data(await link.request(READ), checksum=False) == TABLE
    assert link.digest_failures == 1
    assert stream.written[0] == stream.written[1]  # the identical packet again [MEP p.21]


async def test_digest_never_matching_is_an_integrity_error() -> None:
    stream = ScriptedStream(lambda packet: [ok_reply(packet)[:-1] + b"\x00"])
    link = link_on(stream)
    with pytest.raises(IntegrityError, match="digest"):
        await link.request(READ)
    assert link.digest_failures == mep.ATTEMPTS


async def test_lost_framing_is_retried_then_reported() -> None:
    overlong = (MAX_BODY + 1).to_bytes(2, "big") + b"\x00" * 4
    calls = {"n": 0}

    def respond(packet: bytes) -> list[Piece]:
        calls["n"] += 1
        return [overlong] if calls["n"] == 1 else [ok_reply(packet)]

    link = link_on(ScriptedStream(respond))
    assert psem.read_data(await link.request(READ), checksum=False) == TABLE
    assert link.retransmissions == 1

    link = link_on(ScriptedStream(lambda packet: [overlong]))
    with pytest.raises(IntegrityError, match="exceeds"):
        await link.request(READ)


async def test_silence_is_no_response() -> None:
    stream = ScriptedStream(None)
    link = link_on(stream, response_timeout=0.05)
    with pytest.raises(NoResponse):
        await link.request(READ)
    assert len(stream.written) == mep.ATTEMPTS
    assert len(set(stream.written)) == 1  # resent identical


async def test_long_reply_may_take_longer_than_the_timeout() -> None:
    """Only the first bytes must come within 500 ms; the meter pauses within long replies."""

    def respond(packet: bytes) -> list[Piece]:
        whole = ok_reply(packet)
        return [whole[:2], (0.07, whole[2:8]), (0.14, whole[8:])]

    link = link_on(ScriptedStream(respond), response_timeout=0.1)
    assert psem.read_data(await link.request(READ), checksum=False) == TABLE
    assert link.retransmissions == 0


@pytest.mark.parametrize(
    "rejection", [b"\x00\x01\x0b", b"\x00\x09\x0b" + bytes(8), b"\x00\x09\x0b" + b"\xa5" * 8]
)
async def test_wrong_key_is_rejected_once_and_never_retried(rejection: bytes) -> None:
    """A 0x0B the key cannot verify, on the first request: the key is wrong."""
    stream = ScriptedStream(lambda packet: [rejection])
    link = link_on(stream)
    with pytest.raises(AuthenticationFailed):
        await link.request(READ)
    assert len(stream.written) == 1
    with pytest.raises(AuthenticationFailed):
        await link.request(READ)
    with pytest.raises(AuthenticationFailed):
        await link.open()
    assert len(stream.written) == 1


async def test_0x0b_after_the_key_was_proven_is_returned() -> None:
    """Once a reply verified, a 0x0B is a table refusing a form of read (spec §5)."""
    answers = iter(["ok", "signed-0b", "bare-0b", "ok"])

    def respond(packet: bytes) -> list[Piece]:
        answer = next(answers)
        if answer == "signed-0b":
            return [mep_reply(packet, b"\x0b", KEY)]
        if answer == "bare-0b":
            return [b"\x00\x01\x0b"]
        return [ok_reply(packet)]

    link = link_on(ScriptedStream(respond))
    await link.request(READ)
    assert await link.request(psem.full_read(23, mep_length=0x200)) == b"\x0b"
    assert await link.request(psem.full_read(28, mep_length=0x200)) == b"\x0b"
    assert psem.read_data(await link.request(READ), checksum=False) == TABLE


async def test_a_verified_0x0c_proves_the_key() -> None:
    answers = iter(["0c", "ok", "0b"])

    def respond(packet: bytes) -> list[Piece]:
        answer = next(answers)
        if answer == "0c":
            return [mep_reply(packet, b"\x0c\x00\x00\x00\x10", KEY)]
        if answer == "0b":
            return [mep_reply(packet, b"\x0b", KEY)]
        return [ok_reply(packet)]

    link = link_on(ScriptedStream(respond))
    await link.request(READ)
    assert await link.request(READ) == b"\x0b"  # returned, not a wrong key


async def test_endless_0x0c_is_an_integrity_error() -> None:
    def respond(packet: bytes) -> list[Piece]:
        return [mep_reply(packet, b"\x0c\x00\x00\x00\x10", KEY)]

    stream = ScriptedStream(respond)
    link = link_on(stream)
    with pytest.raises(IntegrityError, match="sequence"):
        await link.request(READ)
    assert len(stream.written) == mep.RESYNCS + 1


async def test_short_0x0c_is_an_error_code() -> None:
    link = link_on(ScriptedStream(lambda packet: [mep_reply(packet, b"\x0c", KEY)]))
    response = await link.request(READ)
    with pytest.raises(PsemError) as caught:
        psem.check(response)
    assert caught.value.code == 0x0C


async def test_request_too_long_for_one_packet() -> None:
    stream = ScriptedStream(None)
    link = link_on(stream)
    with pytest.raises(ValueError, match="too long"):
        await link.request(b"\x3f" * (MAX_BODY - 11))
    assert stream.written == []


async def test_alerts_are_consumed_between_packets() -> None:
    def respond(packet: bytes) -> list[Piece]:
        return [b"\x00\x00", b"\x00\x00" + ok_reply(packet)[:1], ok_reply(packet)[1:]]

    link = link_on(ScriptedStream(respond))
    assert psem.read_data(await link.request(READ), checksum=False) == TABLE
    assert link.alerts_seen == 2


async def test_requests_are_spaced_100_ms_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.1)
    stream = ScriptedStream(lambda packet: [ok_reply(packet)])
    link = link_on(stream)
    for _ in range(3):
        await link.request(READ)
    gaps = [b - a for a, b in zip(stream.write_times, stream.write_times[1:], strict=False)]
    assert all(gap >= 0.099 for gap in gaps)


async def test_stale_reply_after_a_slow_one_is_skipped(start_meter: StartMeter) -> None:
    """The meter answers a request and, later, its retransmission (0x0C): that second reply
    verifies against the previous request only. It is dropped, not counted as a bad digest,
    and it does not make the next request go out twice."""
    running = await start_meter(link="mep")
    client = await running.client(response_timeout=0.1)
    running.faults.slow = 1
    running.faults.slow_seconds = 0.15
    assert_snapshot(await client.read(), running.meter)
    link = client.link
    assert link.retransmissions == 1  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)
    assert_snapshot(await client.read(), running.meter)
    assert link.digest_failures == 0  # type: ignore[attr-defined]
    assert link.retransmissions == 1  # type: ignore[attr-defined]
