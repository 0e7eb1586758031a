"""MIME messages assembled from bytes: the parts every recipient shares are built once per
campaign, so a message costs a few string joins and a quoted-printable encode (building
each with `email.message` costs 0.6-1.9 ms here, which would cap a worker's rate).

The result is RFC 5322 with CRLF line ends: multipart/alternative (text, then HTML) or a
single HTML part, quoted-printable UTF-8 bodies, RFC 2047 encoded words for non-ASCII
headers, and RFC 8058 one-click unsubscribe headers.

Values are validated when they are saved (db/validation.py); as a second line of defence
the factory refuses (HeaderInjection) any header value that could end its line or carry
an address the header syntax would misread.
"""

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from db.usecases.campaigns import Sender

CRLF = "\r\n"
# Applied with `fullmatch`: `$` alone would let a final newline through.
_PLAIN_HEADER = re.compile(r"[\x20-\x7e]*")
_ATOM_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
# An address as it goes between angle brackets: printable ASCII without space, brackets,
# quotes or the characters that separate addresses.
_ADDRESS_PART = r"[^\x00-\x20\x7f-\U0010ffff<>()\[\]\\\",;:@]+"
_ADDRESS = re.compile(f"{_ADDRESS_PART}@{_ADDRESS_PART}")
# Text (a subject, a display name) may hold anything but a line end: other control
# characters go out as encoded words, which no reader takes for the end of a line.
_LINE_END = re.compile(r"[\r\n]")
_ENCODED_WORD_BYTES = 45  # base64 of 45 bytes is 60 characters: a word fits in 75


class HeaderInjection(ValueError):
    """A header value would end its line early or is not what its header needs."""


def _safe(value: str, what: str) -> str:
    if _LINE_END.search(value):
        raise HeaderInjection(f"{what} contains a line end: {value!r}")
    return value


def _address(value: str, what: str) -> str:
    if not _ADDRESS.fullmatch(value):
        raise HeaderInjection(f"{what} is not a plain email address: {value!r}")
    return value


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope and the bytes of one message."""

    sender: str
    recipient: str
    data: bytes
    # Against the channel's rate limit, an email counts once.
    units: int = 1


class MessageFactory:
    """Builds the messages of one campaign; `build` fills in one recipient's parts."""

    def __init__(self, sender: Sender, *, multipart: bool) -> None:
        self._sender = _address(sender.from_email, "From address")
        shared = [
            f"From: {address(sender.from_name, sender.from_email)}",
            "MIME-Version: 1.0",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
        if sender.reply_to_email:
            shared.append(f"Reply-To: {address(sender.reply_to_name, sender.reply_to_email)}")
        self._shared = CRLF.join(shared)
        self._multipart = multipart
        # One boundary serves every message: quoted-printable bodies never contain "=_".
        self._boundary = "=_" + secrets.token_hex(12)

    def build(
        self,
        *,
        recipient: str,
        subject: str,
        html: str,
        text: str,
        message_id: str,
        unsubscribe_url: str,
        date: str,
    ) -> Envelope:
        """`date`: the Date header's value (email.utils.format_datetime), made once per
        batch by the caller."""
        headers = [
            self._shared,
            f"To: {_address(recipient, 'To address')}",
            f"Subject: {header_value(subject)}",
            f"Date: {_plain(date, 'Date')}",
            f"Message-ID: {_plain(message_id, 'Message-ID')}",
            f"List-Unsubscribe: <{_plain(unsubscribe_url, 'Unsubscribe URL')}>",
        ]
        if self._multipart:
            boundary = self._boundary
            headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
            body = CRLF.join(
                [
                    f"--{boundary}",
                    _part_headers("plain"),
                    "",
                    _quoted_printable(text),
                    f"--{boundary}",
                    _part_headers("html"),
                    "",
                    _quoted_printable(html),
                    f"--{boundary}--",
                    "",
                ]
            )
        else:
            headers.append(_part_headers("html"))
            body = _quoted_printable(html)  # the SMTP client ends the data with CRLF
        data = (CRLF.join(headers) + CRLF + CRLF + body).encode("ascii")
        return Envelope(self._sender, recipient, data)


def _part_headers(subtype: str) -> str:
    return CRLF.join(
        [
            f"Content-Type: text/{subtype}; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ]
    )


def _quoted_printable(body: str) -> str:
    lines = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    # b2a_qp's soft line breaks follow the input's first line end, so work in LF throughout
    # and turn every line end into CRLF at the end (the encoding leaves no bare CR or LF).
    encoded = binascii.b2a_qp(lines, istext=True).decode("ascii")
    return encoded.replace("\n", CRLF)


def _plain(value: str, what: str) -> str:
    """A value the header carries as is: printable ASCII, no spaces around it."""
    if not _PLAIN_HEADER.fullmatch(value) or value != value.strip() or not value:
        raise HeaderInjection(f"{what} must be printable ASCII: {value!r}")
    return value


def header_value(value: str) -> str:
    """A header value as is when it is short printable ASCII, else RFC 2047 encoded words
    (also when it holds "=?", which a reader would take for the start of one, or spaces
    at its ends, which a reader would drop)."""
    _safe(value, "Header value")
    plain = _PLAIN_HEADER.fullmatch(value) and value == value.strip()
    if plain and len(value) <= 900 and "=?" not in value:
        return value
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode("utf-8"))
        if size + width > _ENCODED_WORD_BYTES:
            words.append(_encoded_word("".join(chunk)))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append(_encoded_word("".join(chunk)))
    return (CRLF + " ").join(words)


def _encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def address(name: str, email: str) -> str:
    """`Name <email>`, the name quoted or encoded as needed; just the address without one."""
    _address(email, "Address")
    if not name:
        return email
    _safe(name, "Display name")
    if "=?" in name:  # a reader would decode it, even quoted
        return f"{header_value(name)} <{email}>"
    if _ATOM_NAME.fullmatch(name) and name == name.strip():
        return f"{name} <{email}>"
    if _PLAIN_HEADER.fullmatch(name):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{email}>'
    return f"{header_value(name)} <{email}>"  # non-ASCII: encoded words


def domain_of(email: str) -> str:
    return email.rpartition("@")[2] or "clarion.invalid"
