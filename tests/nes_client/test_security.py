"""The key stays secret, answers are checked for authenticity, and a hostile bridge cannot
make the client wait or allocate without bound.

* The key (its 20 characters, their hex in any spelling, the 16-byte MEP key, and any six
  bytes of it in a row) never appears in a log line, debug included, on either link, with an
  echoing IR head, through a pty that hands the echo back in pieces, or in an exception or
  the repr of a client, link or stream.
* MEP answers carry a digest over our request (sequence number included): an answer signed
  with another key, or a genuine answer replayed for a later request, is never decoded.
  (The optical port has no authenticity check in C12.18: CRC and checksum only.)
* A bridge that keeps sending alerts or noise cannot hold a request open for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import time
import traceback

import pytest

from custom_components.nes_echelon.nes_client import (
    AuthenticationFailed,
    IntegrityError,
    InvalidKeyFormat,
    NesError,
    NoResponse,
    mep,
    parse_key,
)
from custom_components.nes_echelon.nes_client.digest import digest
from custom_components.nes_echelon.nes_client.keys import StreamMask, mask, redact
from custom_components.nes_echelon.nes_client.mep import MepLink
from custom_components.nes_echelon.nes_client.optical import OpticalLink
from custom_components.nes_echelon.nes_client.optical_frame import encode_frame
from custom_components.nes_echelon.nes_client.stream import ByteStream
from nes_echelon_dev.simulator import Faults, SimulatedMeter
from tests.nes_client.conftest import Link, StartMeter
from tests.nes_client.expect import assert_snapshot
from tests.nes_client.scripted import Piece, ScriptedStream, mep_reply

KEY = b"Kq9#vT2$wX7!pL4@zR8&"  # shares no six bytes with anything a meter sends
OTHER_KEY = b"Zz1%Yy2^Xx3&Ww4*Vv5("
WINDOW = 6


def key_forms(key: bytes) -> list[str]:
    """Every way the key could be written into a log: whole, and any six bytes of it."""
    forms = []
    for secret in (key, key[:16]):
        forms += [
            secret.decode("latin-1"),
            secret.hex(),
            secret.hex().upper(),
            secret.hex(" "),
            secret.hex(" ").upper(),
            repr(secret),
        ]
    for start in range(len(key) - WINDOW + 1):
        window = key[start : start + WINDOW]
        forms += [window.decode("latin-1"), window.hex(" "), window.hex()]
    return forms


def assert_no_key(text: str, key: bytes = KEY) -> None:
    for form in key_forms(key):
        assert form not in text, f"{form!r} found"


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged: the formatted lines, and each record's arguments as given."""
    return caplog.text + "\n".join(repr(record.args) for record in caplog.records)


def debug_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="custom_components.nes_echelon")


@pytest.mark.parametrize("via", ["tcp", "pty"])
@pytest.mark.parametrize("echo", [False, True], ids=["plain", "echoing-head"])
async def test_an_optical_session_never_logs_the_key(
    start_meter: StartMeter, caplog: pytest.LogCaptureFixture, via: str, echo: bool
) -> None:
    """A whole session at debug level, with the password sent four times (a first frame lost,
    a reopened session after a meter reboot, a corrupt answer to Security) and echoed back."""
    debug_everything(caplog)
    running = await start_meter(
        SimulatedMeter(key=KEY), via=via, faults=Faults(echo=echo, first_frame_nak=True)
    )
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    running.sim.reboot()  # the session is gone: the next read logs on again
    running.faults.bad_crc = 1
    assert_snapshot(await client.read(), running.meter)
    await client.read_status()
    await client.close()

    text = logged(caplog)
    assert "tx ee 00 20 00 00 15 51 " + "** " * 20 in text or "tx ee 00 00 00 00 15 51 " in text
    assert_no_key(text)


async def test_a_mep_session_never_logs_the_key(
    start_meter: StartMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """MEP never sends the key, only digests made with it; nothing logs it either."""
    debug_everything(caplog)
    running = await start_meter(SimulatedMeter(key=KEY), link="mep", faults=Faults(bad_digest=1))
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    running.sim.reboot()
    running.faults.forget_sequence = 1
    await client.read_status()
    await client.close()
    assert_no_key(logged(caplog))


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_a_rejected_key_is_in_no_log_and_no_exception(
    start_meter: StartMeter, caplog: pytest.LogCaptureFixture, link: Link
) -> None:
    """The key the client holds (here the wrong one) is in no message, repr, argument or
    traceback of the error, nor of anything chained to it."""
    debug_everything(caplog)
    running = await start_meter(SimulatedMeter(key=KEY), link=link)
    with pytest.raises(AuthenticationFailed) as caught:
        await running.client(OTHER_KEY)
    err = caught.value
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = "\n".join(
        [str(e) for e in chain]
        + [repr(e) for e in chain]
        + [repr(e.args) for e in chain]
        + traceback.format_exception(err)
    )
    assert_no_key(text, OTHER_KEY)
    assert_no_key(logged(caplog), OTHER_KEY)


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_client_link_and_stream_reprs_hold_no_key(
    start_meter: StartMeter, link: Link
) -> None:
    running = await start_meter(SimulatedMeter(key=KEY), link=link)
    client = await running.client()
    stream = client.link._stream  # type: ignore[attr-defined]
    for item in (client, client.link, stream, client.identity, await client.read()):
        assert_no_key(repr(item) + str(item))


def test_a_malformed_key_is_not_repeated_in_the_error() -> None:
    """A key typed with one character too many: the error says so without showing it."""
    for text in (KEY.decode() + "x", KEY.hex() + "0", KEY.decode()[:19]):
        with pytest.raises(InvalidKeyFormat) as caught:
            parse_key(text)
        assert text not in str(caught.value)
        assert_no_key(str(caught.value) + repr(caught.value))


# -- the mask, chunk by chunk ------------------------------------------------------------------

SECURITY_FRAME = encode_frame(b"\x51" + KEY, toggle=True)


@pytest.mark.parametrize("split", range(1, len(SECURITY_FRAME)))
async def test_a_key_split_across_reads_is_still_masked(
    caplog: pytest.LogCaptureFixture, split: int
) -> None:
    """An echoing head hands the Security frame back in two pieces, cut anywhere."""
    caplog.set_level(logging.DEBUG, logger="custom_components.nes_echelon")
    reader = asyncio.StreamReader()
    stream = ByteStream(reader, None, secret=KEY)  # type: ignore[arg-type]
    reader.feed_data(SECURITY_FRAME[:split])
    deadline = asyncio.get_running_loop().time() + 1
    first = await stream.read_some(deadline)
    reader.feed_data(SECURITY_FRAME[split:])
    second = await stream.read_some(deadline)
    assert first + second == SECURITY_FRAME
    assert_no_key(logged(caplog))
    lines = [record.getMessage() for record in caplog.records]
    assert " ".join(line.removeprefix("rx ") for line in lines).count("**") == len(KEY)


def test_stream_mask_matches_mask_on_whole_chunks() -> None:
    assert StreamMask(KEY).hex(SECURITY_FRAME) == mask(SECURITY_FRAME, KEY)
    assert StreamMask(b"").hex(SECURITY_FRAME) == SECURITY_FRAME.hex(" ")
    assert StreamMask(KEY).hex(b"\x06") == "06"


def test_stream_mask_remembers_unlogged_chunks() -> None:
    """Debug logging switched on half-way through the key: the rest is still masked."""
    masker = StreamMask(KEY)
    masker.skip(b"\xee\x00\x20\x00\x00\x15\x51" + KEY[:9])
    assert masker.hex(KEY[9:] + b"\x12\x34") == "** " * 11 + "12 34"


def test_stream_mask_hides_a_chunk_that_may_start_the_key() -> None:
    """A chunk ending with the key's first bytes: hidden, whatever comes next."""
    masker = StreamMask(KEY)
    assert masker.hex(b"\x51" + KEY[:3]) == "51 ** ** **"
    assert masker.hex(b"\x00") == "00"


# -- authenticity ------------------------------------------------------------------------------

MEP_KEY = KEY[:16]
READ = b"\x3f\x00\x17\x00\x00\x00\x00\x08"
TABLE = bytes(range(8))


@pytest.fixture(autouse=True)
def _no_request_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.0)


async def test_mep_answer_signed_with_another_key_is_never_decoded() -> None:
    """A bridge (or a second meter) that does not hold our key cannot make up an answer."""
    forged = ScriptedStream(lambda packet: [mep_reply(packet, b"\x00\x00\x08" + TABLE, b"X" * 16)])
    link = MepLink(forged, MEP_KEY, response_timeout=0.05, sequence=1)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match="digest"):
        await link.request(READ)
    assert link.digest_failures == 3


async def test_mep_replayed_answer_is_never_taken_for_a_new_one() -> None:
    """The digest covers our request and its sequence number: yesterday's genuine answer,
    replayed, does not verify for today's request."""
    recorded: list[bytes] = []

    def respond(packet: bytes) -> list[Piece]:
        if not recorded:
            recorded.append(mep_reply(packet, b"\x00\x00\x08" + TABLE, MEP_KEY))
        return [recorded[0]]  # the first answer, again and again

    stream = ScriptedStream(respond)
    link = MepLink(stream, MEP_KEY, response_timeout=0.05, sequence=1)  # type: ignore[arg-type]
    assert await link.request(READ) == b"\x00\x00\x08" + TABLE
    with pytest.raises(NesError):
        await link.request(READ)


async def test_a_mep_digest_is_over_request_and_answer() -> None:
    """The digest the meter sends is the OMA digest of our request core plus its answer."""
    stream = ScriptedStream(lambda packet: [mep_reply(packet, b"\x00\x00\x08" + TABLE, MEP_KEY)])
    link = MepLink(stream, MEP_KEY, response_timeout=0.05, sequence=7)  # type: ignore[arg-type]
    await link.request(READ)
    core = READ + (7).to_bytes(4, "big")
    assert stream.written[0][-8:] == digest(MEP_KEY, core)


# -- hostile bridges: no unbounded wait --------------------------------------------------------


def flood(stream: ScriptedStream, data: bytes, every: float) -> Callable[[], None]:
    """Feed `data` every `every` seconds, whatever the link writes; returns the stop."""
    loop = asyncio.get_running_loop()
    handles: list[asyncio.TimerHandle] = []

    def again() -> None:
        stream.feed(data)
        handles[:] = [loop.call_later(every, again)]

    def stop() -> None:
        handles[0].cancel()

    handles.append(loop.call_later(every, again))
    return stop


@pytest.mark.parametrize(
    "noise", [b"\x00\x00", b"\x00"], ids=["alerts", "a packet trickling in byte by byte"]
)
async def test_mep_endless_traffic_cannot_hold_a_request(
    monkeypatch: pytest.MonkeyPatch, noise: bytes
) -> None:
    """Alerts every 20 ms (each one used to extend the wait), or a packet whose bytes never
    stop coming: the request gives up after its bounded time."""
    monkeypatch.setattr(mep, "MAX_PACKET_TIME", 0.1)
    stream = ScriptedStream()
    link = MepLink(stream, MEP_KEY, response_timeout=0.05, sequence=1)  # type: ignore[arg-type]
    if noise == b"\x00":
        stream.feed(b"\x01")  # a length of 256 + …: then one byte every 20 ms
    stop = flood(stream, noise, 0.02)
    began = time.monotonic()
    with pytest.raises(NoResponse):
        await link.request(READ)
    stop()
    # 3 attempts of at most 2 x 50 ms + 100 ms each
    assert time.monotonic() - began < 1.5


async def test_optical_endless_noise_cannot_hold_a_request() -> None:
    stream = ScriptedStream()
    link = OpticalLink(stream, KEY, response_timeout=0.05, negotiate=False)  # type: ignore[arg-type]
    stop = flood(stream, b"\x5a\x31\x00", 0.005)
    began = time.monotonic()
    with pytest.raises(NoResponse):
        await link.open()
    stop()
    assert time.monotonic() - began < 1.0


# -- the serial library's own debug lines ------------------------------------------------------


def test_redact_hides_whole_keys_and_the_pieces_at_either_edge() -> None:
    star = ord("*")
    assert redact(b"\x51" + KEY + b"\x00", KEY) == b"\x51" + bytes([star]) * 20 + b"\x00"
    assert redact(b"\x00\x01" + KEY[:5], KEY) == b"\x00\x01" + bytes([star]) * 5  # starts here
    assert redact(KEY[-7:] + b"\x02", KEY) == bytes([star]) * 7 + b"\x02"  # ends here
    assert redact(b"\x00\x01\x02", KEY) == b"\x00\x01\x02"
    assert redact(b"", KEY) == b""
    assert redact(b"\x01", b"") == b"\x01"


async def test_the_serial_librarys_records_are_redacted(
    start_meter: StartMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """serialx logs each chunk it writes and reads of a device (and rfc2217 as hex): while a
    stream with a key is open, its records carry the key masked; closing it forgets the key."""
    from custom_components.nes_echelon.nes_client.stream import _FILTER, _SECRETS

    running = await start_meter(SimulatedMeter(key=KEY), via="pty")
    client = await running.client()
    logger = logging.getLogger("serialx.platforms.serial_rfc2217")
    assert _FILTER in logging.getLogger("serialx.descriptor_transport").filters
    logger.addFilter(_FILTER)  # as it gets when that module is loaded
    try:
        caplog.set_level(logging.DEBUG, logger="serialx")
        logger.debug("Parser feed: %d bytes: %s", 22, (b"\x51" + KEY).hex(" "))
        logger.debug("%s %s %r", "Opening serial port", "abc", KEY)
        logger.debug("plain %s", "06 ee")
    finally:
        logger.removeFilter(_FILTER)
    messages = [record.getMessage() for record in caplog.records if record.name == logger.name]
    assert_no_key("\n".join(messages))
    assert messages[0] == "Parser feed: 22 bytes: 51 " + "2a " * 19 + "2a"
    assert messages[2] == "plain 06 ee"
    held = _SECRETS[KEY]
    await client.close()
    running.clients.remove(client)
    assert _SECRETS[KEY] == held - 1
