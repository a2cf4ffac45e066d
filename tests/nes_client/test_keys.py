"""The meter key as users type it, and what each port makes of it (spec §1)."""

from __future__ import annotations

import pytest

from custom_components.nes_echelon.nes_client import InvalidKeyFormat, parse_key
from custom_components.nes_echelon.nes_client.keys import mask, mep_key, optical_password

KEY_TEXT = "0123456789ABCDEFGHIJ"
KEY_BYTES = KEY_TEXT.encode("ascii")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (KEY_TEXT, KEY_BYTES),
        ("  " + KEY_TEXT + "\n", KEY_BYTES),  # pasted with whitespace around it
        ("abcdefghij0123456789", b"abcdefghij0123456789"),
        ("Konstant key 2024 !!", b"Konstant key 2024 !!"),  # inner spaces are key characters
        ("0123456789abcdef0123", b"0123456789abcdef0123"),  # 20 hex-looking chars: ASCII bytes
        (KEY_BYTES.hex(), KEY_BYTES),  # the same key written as 40 hex digits
        (KEY_BYTES.hex().upper(), KEY_BYTES),
        ("01" * 20, bytes([1] * 20)),  # raw bytes, e.g. the guides' test key pattern
        ("\t" + "ff" * 20 + " ", b"\xff" * 20),
    ],
)
def test_accepted_keys(text: str, expected: bytes) -> None:
    assert parse_key(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        KEY_TEXT[:-1],  # 19 characters
        KEY_TEXT + "K",  # 21 characters
        "01" * 16,  # 32 hex digits: a 16-byte MEP key written alone is not a meter key
        "01" * 20 + "0",  # 41 hex digits
        "0g" + "01" * 19,  # 40 characters, not all hex
        "0123456789ABCDEFGHIÆ",  # non-ASCII
        "0123456789ABCDEFGH\tJ",  # a control character inside
        "0123456789ABCDEFGH€J",
    ],
)
def test_refused_keys(text: str) -> None:
    with pytest.raises(InvalidKeyFormat) as caught:
        parse_key(text)
    assert isinstance(caught.value, ValueError)
    assert "20 characters or 40 hex digits" in str(caught.value)
    assert text.strip() not in str(caught.value) or not text.strip()  # the key is not echoed


def test_optical_password_is_exactly_20_bytes() -> None:
    assert optical_password(KEY_BYTES) == KEY_BYTES
    assert optical_password(b"\x01" * 16) == b"\x01" * 16 + bytes(4)
    with pytest.raises(InvalidKeyFormat):
        optical_password(KEY_BYTES + b"!")


def test_mep_key_is_the_first_16_bytes() -> None:
    assert mep_key(KEY_BYTES) == KEY_BYTES[:16]
    assert mep_key(b"\x01" * 16) == b"\x01" * 16
    with pytest.raises(InvalidKeyFormat):
        mep_key(b"\x01" * 15)


def test_mask_hides_the_key() -> None:
    frame = b"\xee\x00\x20\x00\x00\x15\x51" + KEY_BYTES + b"\xb7\x07"
    text = mask(frame, KEY_BYTES)
    assert KEY_BYTES.hex(" ") not in text
    assert text == "ee 00 20 00 00 15 51 " + "** " * 19 + "** b7 07"
    assert mask(frame, b"") == frame.hex(" ")
    assert mask(b"\x06", KEY_BYTES) == "06"
