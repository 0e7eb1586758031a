"""db/phones.py: written forms to E.164, the refusals and their reasons, Twilio addresses."""

import pytest

from db.phones import (
    MAX_INPUT_LENGTH,
    PhoneNumberError,
    PhoneProblem,
    TwilioAddress,
    from_address,
    normalise,
    whatsapp_address,
)

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        # International forms, any common punctuation, surrounding spaces.
        ("+14155550123", None, "+14155550123"),
        ("+1 415 555 0123", None, "+14155550123"),
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("+1.415.555.0123", None, "+14155550123"),
        ("  +1 415/555-0123  ", None, "+14155550123"),
        ("+44 7911 123456", None, "+447911123456"),
        ("+39 06 1234 5678", None, "+390612345678"),  # Italy keeps its leading 0
        ("+49 151 12345678", None, "+4915112345678"),
        # An international form wins over the region.
        ("+44 7911 123456", "US", "+447911123456"),
        # National forms with the region (either case).
        ("(415) 555-0123", "US", "+14155550123"),
        ("415.555.0123", "us", "+14155550123"),
        ("07911 123456", "GB", "+447911123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        # An international prefix dialled from the region.
        ("0044 7911 123456", "GB", "+447911123456"),
        ("011 44 7911 123456", "US", "+447911123456"),
        # Digits of another script.
        ("٠٧٩١١ ١٢٣٤٥٦", "GB", "+447911123456"),
    ],
)
def test_normalise(raw: str, region: str | None, expected: str) -> None:
    assert normalise(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "problem", "message"),
    [
        ("", None, PhoneProblem.EMPTY, "is empty."),
        ("   ", "US", PhoneProblem.EMPTY, "is empty."),
        ("4155550123", None, PhoneProblem.NEEDS_COUNTRY_CODE, "needs a country code"),
        ("0044 7911 123456", None, PhoneProblem.NEEDS_COUNTRY_CODE, "needs a country code"),
        # A region the metadata does not know is no region.
        ("4155550123", "XX", PhoneProblem.NEEDS_COUNTRY_CODE, "needs a country code"),
        ("+999 1234567", None, PhoneProblem.UNKNOWN_COUNTRY_CODE, "unknown country code"),
        ("+1", None, PhoneProblem.NOT_A_NUMBER, "is not a phone number."),
        ("+", None, PhoneProblem.NOT_A_NUMBER, "only digits"),
        ("++14155550123", None, PhoneProblem.NOT_A_NUMBER, "only digits"),
        ("415 555 0123 +1", "US", PhoneProblem.NOT_A_NUMBER, "only digits"),
        # Letters: vanity numbers, extensions, URIs would store another number.
        ("+1 800 FLOWERS", None, PhoneProblem.NOT_A_NUMBER, "no letters"),
        ("+1 415 555 0123 ext 5", None, PhoneProblem.NOT_A_NUMBER, "no letters"),
        ("+1 415 555 0123;ext=5", None, PhoneProblem.NOT_A_NUMBER, "no letters"),
        ("tel:+14155550123", None, PhoneProblem.NOT_A_NUMBER, "no letters"),
        ("one", "US", PhoneProblem.NOT_A_NUMBER, "no letters"),
        ("+1 415 555 Ol23", None, PhoneProblem.NOT_A_NUMBER, "no letters"),
        ("\uff0b1 415 555 0123", None, PhoneProblem.NOT_A_NUMBER, "no letters"),  # full-width +
        # Too short / too long for the country.
        ("555", "US", PhoneProblem.TOO_SHORT, "too few digits for country code +1."),
        ("+1-415", None, PhoneProblem.TOO_SHORT, "too few digits for country code +1."),
        ("+1234567890123456", None, PhoneProblem.TOO_LONG, "too many digits"),
        ("+4479111234567", None, PhoneProblem.TOO_LONG, "too many digits for country code +44."),
        ("+33 6 12 34 56 78 9", None, PhoneProblem.TOO_LONG, "too many digits for FR."),
        ("+33 1 23", None, PhoneProblem.TOO_SHORT, "too few digits for FR."),
        # The right length, but no such number.
        ("+15551234567", None, PhoneProblem.INVALID, "not a valid number for country code +1."),
        ("+447700900123", None, PhoneProblem.INVALID, "not a valid number for country code +44."),
        ("+33 0 12 34 56 78", None, PhoneProblem.INVALID, "not a valid number for FR."),
        ("(155) 555-0123", "US", PhoneProblem.INVALID, "not a valid number"),
        # Control characters anywhere, even at the end.
        ("+14155550123\n", None, PhoneProblem.CONTROL_CHARACTERS, "control characters"),
        ("+1415\x005550123", None, PhoneProblem.CONTROL_CHARACTERS, "control characters"),
        ("+1 415\x1b555 0123", None, PhoneProblem.CONTROL_CHARACTERS, "control characters"),
        ("+1 415 555 0123\u2028", None, PhoneProblem.CONTROL_CHARACTERS, "control characters"),
        # Huge input is refused before the library reads it.
        ("1" * (MAX_INPUT_LENGTH + 1), "US", PhoneProblem.INPUT_TOO_LONG, "at most 32"),
        ("+1 " + " " * 40 + "4155550123", None, PhoneProblem.INPUT_TOO_LONG, "at most 32"),
        ("9" * 1_000_000, None, PhoneProblem.INPUT_TOO_LONG, "at most 32"),
    ],
)
def test_normalise_refuses(
    raw: str, region: str | None, problem: PhoneProblem, message: str
) -> None:
    with pytest.raises(PhoneNumberError) as refused:
        normalise(raw, region)
    assert refused.value.problem is problem
    assert message in str(refused.value)


def test_input_of_exactly_the_limit_is_read() -> None:
    raw = "+1 (415) 555-0123".ljust(MAX_INPUT_LENGTH)
    assert len(raw) == MAX_INPUT_LENGTH
    assert normalise(raw) == "+14155550123"


def test_whatsapp_address_round_trip() -> None:
    assert whatsapp_address("+14155550123") == "whatsapp:+14155550123"
    assert from_address("whatsapp:+14155550123") == TwilioAddress("+14155550123", True)
    assert from_address("+14155550123") == TwilioAddress("+14155550123", False)
    # Only E.164's shape is checked: Twilio is the authority on numbers it routes.
    assert from_address("whatsapp:+15551234567") == TwilioAddress("+15551234567", True)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "whatsapp:",
        "whatsapp:14155550123",
        "WhatsApp:+14155550123",
        "whatsapp: +14155550123",
        "sms:+14155550123",
        "+1 415 555 0123",
        "+04155550123",
        "+1234567890123456",
        "+14155550123\n",
        "whatsapp:+14155550123\n",
        "messenger:12345",
    ],
)
def test_from_address_refuses(address: str) -> None:
    with pytest.raises(PhoneNumberError) as refused:
        from_address(address)
    assert refused.value.problem is PhoneProblem.NOT_A_NUMBER


@pytest.mark.parametrize("number", ["", "14155550123", "+1 415 555 0123", "+14155550123\n"])
def test_whatsapp_address_needs_e164(number: str) -> None:
    with pytest.raises(PhoneNumberError):
        whatsapp_address(number)
