"""Open a port (device path, socket://, rfc2217://, esphome://) and a client on it."""

from __future__ import annotations

import asyncio
from enum import StrEnum
import urllib.parse

import serialx

from .client import MeterClient, PollOptions
from .errors import LinkError, PortMissing
from .keys import mep_key, optical_password
from .link import Link
from .mep import MepLink
from .optical import OpticalLink
from .stream import ByteStream

BAUDRATE = 9600  # both ports, 8N1 [OPT; MEP p.20]
OPEN_TIMEOUT = 10.0
# Query parameters of a port URL that hold secrets (an ESPHome proxy's API password or noise key).
SECRET_PORT_PARAMETERS = frozenset({"key", "password", "noise_psk"})


class LinkKind(StrEnum):
    OPTICAL = "optical"
    MEP = "mep"


async def open_stream(port: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open the port at 9600 8N1. Raises LinkError when it is missing, busy or refused.

    A device is opened exclusively (flock): two readers on one line corrupt each other's
    exchanges, so a port another program holds fails here with "already locked by another
    process", and while we hold it nobody else who asks for exclusivity gets it.
    """
    try:
        async with asyncio.timeout(OPEN_TIMEOUT):
            reader, writer = await serialx.open_serial_connection(
                url=port, baudrate=BAUDRATE, exclusive=True
            )
    except FileNotFoundError as err:
        raise PortMissing(f"cannot open {redact_port(port)}: {err}") from err
    except (OSError, TimeoutError, serialx.SerialException) as err:
        # A timeout (ours, or the library's own for a bridge that never answers) has no text.
        reason = str(err) or "no answer from the port or bridge in time"
        raise LinkError(f"cannot open {redact_port(port)}: {reason}") from err
    return reader, writer


def redact_port(port: str) -> str:
    """The port as it may be logged: secret query values and a URL's password replaced.

    Ours rather than the serial library's: serialx has `redact_uri` only from 1.15, and Home
    Assistant 2026.5 to 2026.10 pin older releases.
    """
    base, question_mark, rest = port.partition("?")
    query, hash_sign, fragment = rest.partition("#")
    scheme, separator, location = base.partition("://")
    if separator and "@" in location:
        userinfo, _, host = location.rpartition("@")
        user = userinfo.partition(":")[0]
        base = f"{scheme}://{user}:REDACTED@{host}" if ":" in userinfo else base
    if not question_mark:
        return base
    pairs = []
    for pair in query.split("&"):
        name = urllib.parse.unquote_plus(pair.partition("=")[0]).strip()
        pairs.append(
            f"{pair.partition('=')[0]}=REDACTED" if name in SECRET_PORT_PARAMETERS else pair
        )
    return f"{base}?{'&'.join(pairs)}{hash_sign}{fragment}"


def make_link(
    kind: LinkKind | str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    key: bytes,
    *,
    response_timeout: float | None = None,
) -> Link:
    stream = ByteStream(reader, writer, secret=key)
    if LinkKind(kind) is LinkKind.OPTICAL:
        if response_timeout is None:
            return OpticalLink(stream, optical_password(key))
        return OpticalLink(stream, optical_password(key), response_timeout=response_timeout)
    if response_timeout is None:
        return MepLink(stream, mep_key(key))
    return MepLink(stream, mep_key(key), response_timeout=response_timeout)


async def connect(
    port: str,
    kind: LinkKind | str,
    key: bytes,
    *,
    response_timeout: float | None = None,
    options: PollOptions | None = None,
) -> MeterClient:
    """Open the port, identify the meter, and return a client ready to read()."""
    reader, writer = await open_stream(port)
    link = make_link(kind, reader, writer, key, response_timeout=response_timeout)
    client = MeterClient(link, options=options)
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client
