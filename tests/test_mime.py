"""The MIME writer: what it builds parses back, with the standard library, to what it was
given, in every header and body, and is valid on the wire (CRLF, short lines)."""

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from db.usecases.campaigns import Sender
from jobs.channels.email.mime import MessageFactory, address, header_value

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

SENDER = Sender("news@acme.test", "Acme News", "help@acme.test", "Acme Help")
DATE = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def build(sender: Sender = SENDER, *, multipart: bool = True, **parts: str) -> EmailMessage:
    envelope = MessageFactory(sender, multipart=multipart).build(
        recipient="ann@example.test",
        subject=parts.get("subject", "Hello Ann"),
        html=parts.get("html", "<p>Hi Ann</p>"),
        text=parts.get("text", "Hi Ann"),
        message_id="<42.abc@acme.test>",
        unsubscribe_url="https://clarion.test/unsubscribe/42.xyz",
        date=format_datetime(DATE),
    )
    assert envelope.sender == "news@acme.test"
    assert envelope.recipient == "ann@example.test"
    raw = envelope.data
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers() -> None:
    message = build()
    assert message["From"] == "Acme News <news@acme.test>"
    assert message["Reply-To"] == "Acme Help <help@acme.test>"
    assert message["To"] == "ann@example.test"
    assert message["Subject"] == "Hello Ann"
    assert message["Message-ID"] == "<42.abc@acme.test>"
    assert message["Date"].datetime == DATE
    assert message["MIME-Version"] == "1.0"
    assert message["List-Unsubscribe"] == "<https://clarion.test/unsubscribe/42.xyz>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hi Ann</p>", "Hi Ann"),
        ("<p>Grüße, Zoë — 你好 🎉</p>", "Grüße, Zoë — 你好 🎉"),
        ("<p>" + "long line " * 200 + "</p>", "word " * 300),
        ("<p>a</p>\n.\n..dots\n", ".\nline\r\nmixed\rends\n"),
        ("<p>=3D and = signs</p>", "tab\tand trailing space \nnext"),
    ],
    ids=["ascii", "unicode", "long-lines", "dots-and-line-ends", "qp-specials"],
)
def test_bodies_round_trip(html: str, text: str) -> None:
    message = build(html=html, text=text)
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    assert plain.get_content().replace("\r\n", "\n") == normal
    assert rich.get_content().replace("\r\n", "\n") == html


def test_html_only_is_a_single_part() -> None:
    message = build(multipart=False, html="<p>Only HTML, café</p>")
    assert message.get_content_type() == "text/html"
    assert message.get_content() == "<p>Only HTML, café</p>"


@pytest.mark.parametrize(
    "subject",
    ["Plain subject", "Grüße aus Köln", "🎉 " * 40, "x" * 950, "Ünïcödé " + "y" * 300],
)
def test_subjects_round_trip(subject: str) -> None:
    assert build(subject=subject)["Subject"] == subject


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "news@acme.test"),
        ("Acme News", "Acme News <news@acme.test>"),
        ('Acme, "the" shop', '"Acme, \\"the\\" shop" <news@acme.test>'),
    ],
)
def test_address_quoting(name: str, expected: str) -> None:
    assert address(name, "news@acme.test") == expected


def test_non_ascii_display_names_round_trip() -> None:
    sender = Sender("news@acme.test", "Café Zoë", "help@acme.test", "")
    message = build(sender)
    assert message["From"].addresses[0].display_name == "Café Zoë"
    assert message["Reply-To"] == "help@acme.test"


def test_encoded_words_stay_short() -> None:
    value = header_value("ü" * 200)
    words = value.split("\r\n ")
    assert len(words) > 1
    assert all(len(word) <= 75 for word in words)
