"""PSEM requests and the checks on every response (spec §5), and the typed errors."""

from __future__ import annotations

import pytest

from custom_components.nes_echelon.nes_client import (
    AuthenticationFailed,
    InsufficientClearance,
    IntegrityError,
    NesError,
    PsemError,
    psem,
)
from custom_components.nes_echelon.nes_client.errors import (
    DataLocked,
    DataNotReady,
    DeviceBusy,
    GeneralError,
    InappropriateAction,
    InvalidSequenceNumber,
    InvalidServiceSequence,
    OperationNotPossible,
    RenegotiateRequest,
    ServiceNotSupported,
    error_for_code,
)


def test_requests() -> None:
    # [CAP]: partial read BT23, offset 0, 8 bytes; BT28, 40 bytes.
    assert psem.partial_read(23, 0, 8) == bytes.fromhex("3F 00 17 00 00 00 00 08")
    assert psem.partial_read(28, 0, 40) == bytes.fromhex("3F 00 1C 00 00 00 00 28")
    assert psem.partial_read(0x0803, 0x123456, 0xFFFF) == bytes.fromhex("3F 08 03 12 34 56 FF FF")
    assert psem.full_read(1) == b"\x30\x00\x01"  # optical: no length
    assert psem.full_read(0x34, mep_length=0x200) == bytes.fromhex("30 00 34 02 00")  # [FW]
    assert psem.logon(2, "HA") == b"\x50\x00\x02HA        "
    assert psem.logon(7, "a-very-long-name") == b"\x50\x00\x07a-very-lon"
    assert psem.negotiate(64, 2, 6) == bytes.fromhex("61 00 40 02 06")  # [ESP], [KON]


@pytest.mark.parametrize(
    ("offset", "count"), [(-1, 8), (1 << 24, 8), (0, 0), (0, 1 << 16), (0, -3)]
)
def test_partial_read_out_of_range(offset: int, count: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        psem.partial_read(23, offset, count)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (0x01, GeneralError),
        (0x02, ServiceNotSupported),
        (0x03, InsufficientClearance),
        (0x04, OperationNotPossible),
        (0x05, InappropriateAction),
        (0x06, DeviceBusy),
        (0x07, DataNotReady),
        (0x08, DataLocked),
        (0x09, RenegotiateRequest),
        (0x0A, InvalidServiceSequence),
        (0x0B, AuthenticationFailed),
    ],
)
def test_every_response_code_has_its_error(code: int, error: type[PsemError]) -> None:
    with pytest.raises(error) as caught:
        psem.check(bytes([code]))
    assert caught.value.code == code
    assert f"0x{code:02X}" in str(caught.value)
    assert caught.value.name in str(caught.value)
    assert isinstance(caught.value, NesError)
    # The same through read_data, whatever follows the code.
    with pytest.raises(error):
        psem.read_data(bytes([code, 0, 0]), checksum=True)


def test_invalid_sequence_number_carries_the_expected_number() -> None:
    with pytest.raises(InvalidSequenceNumber) as caught:
        psem.check(bytes.fromhex("0C 77 63 5B 90"))
    assert caught.value.expected == 0x77635B90
    assert caught.value.code == 0x0C
    assert "0x77635b90" in str(caught.value)


@pytest.mark.parametrize("code", [0x0D, 0x42, 0xFF])
def test_unknown_code(code: int) -> None:
    with pytest.raises(PsemError) as caught:
        psem.check(bytes([code]))
    assert type(caught.value) is PsemError
    assert caught.value.code == code
    assert "unknown error" in str(caught.value)
    assert str(error_for_code(code, "BT23")).endswith(": BT23")


def test_check_returns_the_payload() -> None:
    assert psem.check(b"\x00") == b""
    assert psem.check(b"\x00\x01\x02") == b"\x01\x02"
    with pytest.raises(IntegrityError, match="empty"):
        psem.check(b"")


DATA = bytes.fromhex("FB 13 04 02 4D 89 1A 00")  # [CAP] BT23: import / export Wh


def test_read_data_optical() -> None:
    # [CAP]'s reply to the partial read of BT23, 8 bytes.
    assert psem.read_data(bytes.fromhex("00 00 08") + DATA + b"\xfc", checksum=True) == DATA
    assert psem.read_data(bytes.fromhex("00 00 08") + DATA + b"\xfc", checksum=True, expected=8)


def test_read_data_mep() -> None:
    assert psem.read_data(b"\x00\x00\x08" + DATA, checksum=False, expected=8) == DATA
    assert psem.read_data(b"\x00\x00\x00", checksum=False) == b""


@pytest.mark.parametrize(
    ("response", "checksum", "expected", "message"),
    [
        (b"\x00\x00\x08" + DATA + b"\xfd", True, None, "checksum"),
        (b"\x00\x00\x08" + DATA[:-1] + b"\xfc", True, None, "count 8 but 7"),  # short reply
        (b"\x00\x00\x08" + DATA + b"\xfc\x00", True, None, "count 8 but 9"),  # long reply
        (b"\x00\x00\x08" + DATA, True, None, "count"),  # the checksum missing
        (b"\x00\x00\x09" + DATA, False, None, "count 9 but 8"),
        (b"\x00\x00\x04" + DATA[:4], False, 8, "asked for 8"),  # less than asked for
        (b"\x00\x00", False, None, "count"),
        (b"\x00", True, None, "without a count"),
        (b"\x00\x07", True, None, "without a count"),
    ],
)
def test_read_data_integrity(
    response: bytes, checksum: bool, expected: int | None, message: str
) -> None:
    """A short or inconsistent reply is never decoded: other readers publish zeros here."""
    with pytest.raises(IntegrityError, match=message):
        psem.read_data(response, checksum=checksum, expected=expected)


def test_error_classes_for_callers() -> None:
    from custom_components.nes_echelon.nes_client import LinkError, NoResponse

    assert issubclass(NoResponse, LinkError)
    assert issubclass(NoResponse, TimeoutError)
    error = PsemError(0x42, "detail")
    assert error.code == 0x42
    assert str(error) == "meter answered 0x42 (unknown error): detail"
    assert PsemError().code == -1
