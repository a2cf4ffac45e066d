"""One table from the client's errors to the keys of what a person reads (flow, entry, CLI)."""

from __future__ import annotations

import pytest

from custom_components.nes_echelon.nes_client import errors
from custom_components.nes_echelon.nes_client.errors import ERROR_KEYS, error_key


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (errors.InvalidKeyFormat("19 characters"), "invalid_key_format"),
        (errors.AuthenticationFailed(), "invalid_key"),
        (errors.PortMissing("cannot open /dev/ttyUSB9"), "port_missing"),
        (errors.NoResponse("no answer"), "timeout"),
        (errors.LinkError("refused"), "cannot_connect"),
        (errors.IntegrityError("bad CRC"), "integrity"),
        (errors.UnsupportedMeter("table format 0x00"), "unsupported_meter"),
        (errors.DeviceBusy(), "meter_error"),
        (errors.NesError("anything else"), "meter_error"),
    ],
)
def test_error_key(error: errors.NesError, key: str) -> None:
    assert error_key(error) == key


def test_no_row_is_hidden_by_an_earlier_one() -> None:
    """A subclass placed after its base would never be reached."""
    for index, (error_type, _) in enumerate(ERROR_KEYS):
        earlier = [base for base, _ in ERROR_KEYS[:index]]
        assert not any(issubclass(error_type, base) for base in earlier), error_type


def test_the_command_line_has_a_text_for_every_key() -> None:
    from custom_components.nes_echelon.nes_client.cli import FAILURE_TEXTS

    assert set(FAILURE_TEXTS) == {key for _, key in ERROR_KEYS}
