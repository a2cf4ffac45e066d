"""Every way a meter exchange can fail, as a typed exception.

The integration maps these onto Home Assistant's errors: AuthenticationFailed starts a
re-authentication, LinkError/NoResponse make entities unavailable, and so on.
"""

from __future__ import annotations


class NesError(Exception):
    """Base of every error raised by the protocol client."""


class InvalidKeyFormat(NesError, ValueError):
    """The key is not 20 characters nor 40 hex digits; nothing was sent."""


class LinkError(NesError):
    """The port failed, closed or is missing (unplugged probe, dropped bridge)."""


class PortMissing(LinkError):
    """The port's device path does not exist (probe unplugged, wrong /dev/serial/by-id path)."""


class NoResponse(LinkError, TimeoutError):
    """The meter did not answer within the retry budget (probe placement, wrong port)."""


class IntegrityError(NesError):
    """Bytes arrived but failed the wire check (CRC, checksum, digest, framing).

    Raised only after the retry budget is spent; a response that fails is never decoded.
    """


class UnsupportedMeter(NesError):
    """The meter answered, but not like an NES/Echelon meter we can read."""


class PsemError(NesError):
    """The meter answered a PSEM request with a non-zero response code."""

    code: int = -1
    name: str = "unknown error"

    def __init__(self, code: int | None = None, detail: str = "") -> None:
        if code is not None:
            self.code = code
        message = f"meter answered 0x{self.code:02X} ({self.name})"
        if detail:
            message = f"{message}: {detail}"
        super().__init__(message)


class GeneralError(PsemError):
    code, name = 0x01, "error / unrecognised request"


class ServiceNotSupported(PsemError):
    code, name = 0x02, "service not supported"


class InsufficientClearance(PsemError):
    """The key lacks rights for this table: skip the table; this is not a bad key."""

    code, name = 0x03, "insufficient security clearance"


class OperationNotPossible(PsemError):
    code, name = 0x04, "operation not possible"


class InappropriateAction(PsemError):
    code, name = 0x05, "inappropriate action requested"


class DeviceBusy(PsemError):
    code, name = 0x06, "device busy"


class DataNotReady(PsemError):
    code, name = 0x07, "data not ready"


class DataLocked(PsemError):
    code, name = 0x08, "data locked"


class RenegotiateRequest(PsemError):
    code, name = 0x09, "renegotiate request"


class InvalidServiceSequence(PsemError):
    code, name = 0x0A, "invalid service sequence state"


class AuthenticationFailed(PsemError):
    """The meter rejected the key. Never retried automatically: each try is logged by the meter."""

    code, name = 0x0B, "authentication failure"


class InvalidSequenceNumber(PsemError):
    """MEP 0x0C; carries the sequence number the meter expects."""

    code, name = 0x0C, "invalid sequence number"

    def __init__(self, expected: int, detail: str = "") -> None:
        self.expected = expected
        super().__init__(None, detail or f"meter expects {expected:#010x}")


_BY_CODE: dict[int, type[PsemError]] = {
    cls.code: cls
    for cls in (
        GeneralError,
        ServiceNotSupported,
        InsufficientClearance,
        OperationNotPossible,
        InappropriateAction,
        DeviceBusy,
        DataNotReady,
        DataLocked,
        RenegotiateRequest,
        InvalidServiceSequence,
        AuthenticationFailed,
    )
}


def error_for_code(code: int, detail: str = "") -> PsemError:
    """Return the typed exception for a non-zero PSEM response code (0x0C excluded)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return PsemError(code, detail)
    return cls(None, detail)


# What each failure is called where a person reads it: the key of the integration's translated
# message (config flow errors and entity/set-up errors) and of the command line's text. The first
# row whose type matches wins, so a subclass comes before its base.
ERROR_KEYS: tuple[tuple[type[NesError], str], ...] = (
    (InvalidKeyFormat, "invalid_key_format"),
    (AuthenticationFailed, "invalid_key"),
    (PortMissing, "port_missing"),
    (NoResponse, "timeout"),
    (LinkError, "cannot_connect"),
    (IntegrityError, "integrity"),
    (UnsupportedMeter, "unsupported_meter"),
    (NesError, "meter_error"),
)


def error_key(err: NesError) -> str:
    """The key of the message a person sees for this failure (ERROR_KEYS)."""
    return next(key for error_type, key in ERROR_KEYS if isinstance(err, error_type))
