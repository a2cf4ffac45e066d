"""The OMA digest (spec §3, §4)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.nes_echelon.nes_client.digest import digest

KEY_01 = bytes([0x01] * 16)
KEY_ASCII = b"0123456789ABCDEF"


def reference_digest(key: bytes, message: bytes) -> bytes:
    """Deliberately plain transcription of spec §4: no tables, no caching."""
    k = len(key)
    state = [0, 0, 0, 0, 0, 0, 0, 0]
    pos = 0  # next message byte
    first_pass = True
    while first_pass or pos < len(message):
        first_pass = False
        for i in range(k + k // 2):
            key_byte = key[i % k]
            last = state[0]
            for bit_number in range(8):
                v = 7 - bit_number
                bit = (key_byte >> bit_number) & 1
                if pos < len(message):
                    m = message[pos]
                    pos += 1
                else:
                    m = 0
                n = (~(state[v] + v)) & 0xFF
                rotated_left = ((n << 1) | (n >> 7)) & 0xFF
                rotated_right = ((n >> 1) | (n << 7)) & 0xFF
                r = rotated_left if bit == 1 else (-rotated_right) & 0xFF
                state[v] = (last + m + r) & 0xFF
                last = state[v]
    return bytes(state)


VECTORS = [
    # key 16 x 0x01 [MEP p.15-17, p.53-54]
    (KEY_01, "3F0017000000002C01020304", "74861F6D7658DD56"),
    (KEY_01, "3F0017000000002C01020304" + "0C77635B90", "35863C1DF5B91482"),
    (KEY_01, "3F083500000000055B4E42E7", "489775DAD853E3A3"),
    (KEY_01, "3F083500000000055B4E42E7" + "0000056F00010100", "974B99CAA3314519"),
    (KEY_01, "3F0017000000002C77635B91", "13DB85A135A0575E"),
    (KEY_01, "4F083200001E00010177636E2F", "86E50E2667D1E63C"),
    (KEY_01, "4F083200001E00010177636E2F" + "00", "86E50E2667D1E63C"),
    # third-party vector, key 12 x 0xDF
    (
        bytes([0xDF] * 12),
        "0202003000037f30ea6d0000000d0020980031c30008000000000011",
        "dbe5cde507b1cb3d",
    ),
    # key ASCII "0123456789ABCDEF"
    (KEY_ASCII, "3f0017000000000d00000001", "1e0a122a924aeaad"),
    (KEY_ASCII, "30001c020000000000", "d95bfda65944aa6e"),
    (KEY_ASCII, "", "26ab328299eb2026"),
    (KEY_ASCII, "300034020000000000", "c00ed55fe125e7ee"),
]


@pytest.mark.parametrize(("key", "message_hex", "expected_hex"), VECTORS)
def test_published_vectors(key: bytes, message_hex: str, expected_hex: str) -> None:
    assert digest(key, bytes.fromhex(message_hex)) == bytes.fromhex(expected_hex)


@pytest.mark.parametrize(("key", "message_hex", "expected_hex"), VECTORS)
def test_reference_agrees_with_vectors(key: bytes, message_hex: str, expected_hex: str) -> None:
    # The property test below is only worth something if the reference itself is right.
    assert reference_digest(key, bytes.fromhex(message_hex)) == bytes.fromhex(expected_hex)


def test_output_is_eight_bytes_and_key_dependent() -> None:
    message = bytes.fromhex("3F0017000000002C01020304")
    a = digest(KEY_01, message)
    b = digest(bytes([0x02] * 16), message)
    assert len(a) == 8
    assert a != b


def test_message_longer_than_one_pass() -> None:
    # 16-byte key: one pass eats 192 bytes; a second pass must change the result.
    message = bytes(range(200))
    assert digest(KEY_01, message) == reference_digest(KEY_01, message)
    assert digest(KEY_01, message) != digest(KEY_01, message[:192])


def test_empty_key_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        digest(b"", b"abc")


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=1, max_size=32), message=st.binary(max_size=300))
def test_matches_reference(key: bytes, message: bytes) -> None:
    assert digest(key, message) == reference_digest(key, message)
