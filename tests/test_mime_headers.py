"""No header injection: whatever a client could store in a header-bearing field (names,
addresses, subjects), the real MessageFactory's messages parse back, with the standard
library, to exactly the expected headers; a value that would end a header line never
reaches the wire (db/validation.py refuses it when saved, jobs/channels/email/mime.py when
built)."""

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest

from db import validation as v
from db.errors import ErrorCode
from db.usecases.campaigns import Sender
from jobs.channels.email.mime import HeaderInjection, MessageFactory

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

DATE = format_datetime(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
HEADERS = [
    "From",
    "MIME-Version",
    "List-Unsubscribe-Post",
    "Reply-To",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "Content-Type",
]
GOOD = {
    "from_email": "news@acme.test",
    "from_name": "Acme News",
    "reply_to_email": "help@acme.test",
    "reply_to_name": "Acme Help",
    "recipient": "ann@example.test",
    "subject": "Hello Ann",
    "message_id": "<42.abc@acme.test>",
    "unsubscribe_url": "https://clarion.test/unsubscribe/42.xyz",
    "date": DATE,
}
# Values the validation lets through that look like header syntax: each must come back as
# exactly itself, in its own header, with no header added.
TRICKY_TEXT = [
    'Acme, "the" shop',
    "Acme <evil@attacker.test>",
    "Bcc: evil@attacker.test",
    "=?utf-8?b?RXZpbA==?=",
    "back\\slash; semi: colon",
    "Zoë — 你好 🎉",
    "  padded  ",
    "x" * 255,
    "ctrl \x7f\x01 chars",  # refused on save; the factory still encodes them safely
]
# Values that would end a header line (or an address that is not one): refused on save,
# and by the factory.
LINE_BREAKERS = [
    "a@b.test\n",
    "a@b.test\r\nBcc: evil@attacker.test",
    "Name\nBcc: evil@attacker.test",
    "Name\r",
    "\r\n\r\n<html>body</html>",
]
BAD_ADDRESSES = [
    *LINE_BREAKERS,
    "a@b.test>, <evil@attacker.test",
    "a b@c.test",
    "Name <a@b.test>",
    "a@b.test\u2028",
    "",
]


def build(**overrides: str) -> EmailMessage:
    values = {**GOOD, **overrides}
    sender = Sender(
        values["from_email"], values["from_name"], values["reply_to_email"], values["reply_to_name"]
    )
    envelope = MessageFactory(sender, multipart=True).build(
        recipient=values["recipient"],
        subject=values["subject"],
        html="<p>Hi</p>",
        text="Hi",
        message_id=values["message_id"],
        unsubscribe_url=values["unsubscribe_url"],
        date=values["date"],
    )
    raw = envelope.data
    assert b"\n" not in raw.replace(b"\r\n", b""), raw  # CRLF only
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_headers(message: EmailMessage, **expected: Any) -> None:
    assert message.keys() == HEADERS
    assert not message.defects
    for name, value in expected.items():
        assert message[name] == value, name


@pytest.mark.parametrize("value", TRICKY_TEXT)
def test_display_names_and_subjects_come_back_exactly(value: str) -> None:
    message = build(from_name=value, reply_to_name=value, subject=value)
    assert_headers(
        message,
        To="ann@example.test",
        **{"Message-ID": "<42.abc@acme.test>"},
    )
    assert message["Subject"] == value
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (value, "news@acme.test")
    (reply_to,) = message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (value, "help@acme.test")
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Hi"


@pytest.mark.parametrize("field", ["from_name", "reply_to_name", "subject"])
@pytest.mark.parametrize("value", LINE_BREAKERS)
def test_text_with_a_line_end_is_refused_by_the_factory(field: str, value: str) -> None:
    with pytest.raises(HeaderInjection):
        build(**{field: value})


@pytest.mark.parametrize("field", ["from_email", "reply_to_email", "recipient"])
@pytest.mark.parametrize("value", BAD_ADDRESSES)
def test_addresses_that_are_not_plain_are_refused_by_the_factory(field: str, value: str) -> None:
    if field == "reply_to_email" and value == "":
        return  # no Reply-To at all is allowed
    with pytest.raises(HeaderInjection):
        build(**{field: value})


@pytest.mark.parametrize("field", ["message_id", "unsubscribe_url", "date"])
@pytest.mark.parametrize("value", [*LINE_BREAKERS, "x\x00y", "ünïcode"])
def test_generated_values_are_checked_too(field: str, value: str) -> None:
    with pytest.raises(HeaderInjection):
        build(**{field: value + GOOD[field]})


@pytest.mark.parametrize(
    "value", [*LINE_BREAKERS, "a@b.test\u2028", "a@b.test\x85", "a\x00@b.test", "é@b.test"]
)
def test_validation_refuses_hostile_addresses(value: str) -> None:
    problem = v.email(value, "email")
    assert problem is not None
    assert problem.code is ErrorCode.INVALID


@pytest.mark.parametrize(
    "value",
    [*LINE_BREAKERS, "Name\u2028", "Name\u2029", "Name\x85", "Name\x00", "Name\x7f", "\tName"],
)
def test_validation_refuses_hostile_names(value: str) -> None:
    problem = v.display_name(value, "from_name")
    assert problem is not None
    assert problem.code is ErrorCode.INVALID


def test_validation_caps_lengths() -> None:
    long_name = v.display_name("x" * 256, "from_name")
    assert long_name is not None
    assert long_name.code is ErrorCode.TOO_LONG
    long_address = v.email("a" * 250 + "@b.test", "email")
    assert long_address is not None
    assert long_address.code is ErrorCode.TOO_LONG
    assert v.display_name("x" * 255, "from_name") is None
    assert v.email("a@b.test", "email") is None
