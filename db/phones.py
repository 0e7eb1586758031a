"""Phone numbers: any common written form to E.164 ("+14155550123"), with `phonenumbers`
(Google's libphonenumber metadata) judging whether the number exists; and the addresses
Twilio uses for WhatsApp ("whatsapp:+14155550123") and SMS ("+14155550123").

The input is judged whole before the library sees it: at most 32 characters, no control
characters, and only digits, spaces, `-`, `.`, `/`, parentheses and one leading `+`. The
library alone would also accept letters (vanity numbers such as 1-800-FLOWERS), an
extension ("ext. 5", dropped by E.164) and `tel:` URIs: each would store a number other
than the one a person wrote, so they are refused.
"""

import re
from enum import StrEnum
from typing import NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

MAX_INPUT_LENGTH = 32
WHATSAPP_PREFIX = "whatsapp:"
# What `normalise` returns: "+", a country code that does not start with 0, at most 15 digits.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# \d: decimal digits of any script (the library reads Arabic-Indic or full-width digits).
_WRITTEN = re.compile(r"\+?[\d ()./-]+")


class PhoneProblem(StrEnum):
    """Why a string is not a phone number."""

    EMPTY = "empty"
    INPUT_TOO_LONG = "input_too_long"
    CONTROL_CHARACTERS = "control_characters"
    NOT_A_NUMBER = "not_a_number"
    NEEDS_COUNTRY_CODE = "needs_country_code"
    UNKNOWN_COUNTRY_CODE = "unknown_country_code"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID = "invalid"


class PhoneNumberError(ValueError):
    """A string that is not a phone number; `problem` says why, the message in words."""

    def __init__(self, problem: PhoneProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def _refuse(problem: PhoneProblem, message: str) -> PhoneNumberError:
    return PhoneNumberError(problem, message)


def _check_written_form(raw: str) -> None:
    if not raw.strip():
        raise _refuse(PhoneProblem.EMPTY, "is empty.")
    if len(raw) > MAX_INPUT_LENGTH:
        raise _refuse(
            PhoneProblem.INPUT_TOO_LONG, f"must be at most {MAX_INPUT_LENGTH} characters."
        )
    if _CONTROL.search(raw):
        raise _refuse(
            PhoneProblem.CONTROL_CHARACTERS, "must be one line without control characters."
        )
    if not _WRITTEN.fullmatch(raw.strip()):
        raise _refuse(
            PhoneProblem.NOT_A_NUMBER,
            "is not a phone number: only digits, spaces, - . / ( ) and a leading + are allowed "
            "(no letters or extensions).",
        )


def normalise(raw: str, default_region: str | None = None) -> str:
    """The E.164 form of `raw`; a number without a leading + (or 00-style international
    prefix) is read as a national number of `default_region` (ISO 3166 alpha-2, e.g. "US").
    Raises PhoneNumberError unless the number is valid for its country."""
    _check_written_form(raw)
    region = default_region.upper() if default_region else None
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = None  # a country the metadata does not know helps no more than none
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except NumberParseException as exc:
        raise _parse_error(exc, international=raw.strip().startswith("+")) from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in (ValidationResult.TOO_SHORT, ValidationResult.INVALID_LENGTH):
        short = reason is ValidationResult.TOO_SHORT
        problem = PhoneProblem.TOO_SHORT if short else PhoneProblem.INVALID
        raise _refuse(
            problem,
            f"has too few digits for {_where(number)}."
            if short
            else f"has a number of digits no number of {_where(number)} has.",
        )
    if reason is ValidationResult.TOO_LONG:
        raise _refuse(PhoneProblem.TOO_LONG, f"has too many digits for {_where(number)}.")
    if reason is ValidationResult.INVALID_COUNTRY_CODE:
        raise _refuse(PhoneProblem.UNKNOWN_COUNTRY_CODE, "has an unknown country code.")
    if not phonenumbers.is_valid_number(number):
        raise _refuse(PhoneProblem.INVALID, f"is not a valid number for {_where(number)}.")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _where(number: phonenumbers.PhoneNumber) -> str:
    regions = phonenumbers.region_codes_for_country_code(number.country_code or 0)
    if len(regions) == 1 and regions[0] != "001":
        return str(regions[0])
    return f"country code +{number.country_code}"


def _parse_error(exc: NumberParseException, *, international: bool) -> PhoneNumberError:
    kind = exc.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        if not international:
            return _refuse(
                PhoneProblem.NEEDS_COUNTRY_CODE,
                "needs a country code (such as +1) or the contact's country.",
            )
        return _refuse(PhoneProblem.UNKNOWN_COUNTRY_CODE, "has an unknown country code.")
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return _refuse(PhoneProblem.TOO_SHORT, "has too few digits.")
    if kind == NumberParseException.TOO_LONG:
        return _refuse(PhoneProblem.TOO_LONG, "has too many digits.")
    return _refuse(PhoneProblem.NOT_A_NUMBER, "is not a phone number.")


def is_e164(value: str) -> bool:
    """Whether `value` has E.164's shape (cheap; says nothing of whether the number exists)."""
    return E164.fullmatch(value) is not None


class TwilioAddress(NamedTuple):
    """A number as Twilio names a sender or recipient."""

    number: str  # E.164
    whatsapp: bool


def whatsapp_address(e164: str) -> str:
    """Twilio's WhatsApp address of an E.164 number: "whatsapp:+14155550123"."""
    if not is_e164(e164):
        raise _refuse(PhoneProblem.NOT_A_NUMBER, "must be an E.164 number such as +14155550123.")
    return WHATSAPP_PREFIX + e164


def from_address(address: str) -> TwilioAddress:
    """Reads "whatsapp:+14155550123" or "+14155550123" (Twilio's From/To forms).

    Only E.164's shape is checked, not the library's validity: Twilio is the authority on
    numbers it routes, and metadata older than a new number range must not lose a message.
    """
    whatsapp = address.startswith(WHATSAPP_PREFIX)
    number = address[len(WHATSAPP_PREFIX) :] if whatsapp else address
    if not is_e164(number):
        raise _refuse(
            PhoneProblem.NOT_A_NUMBER,
            "must be an E.164 number such as +14155550123, or whatsapp: and one.",
        )
    return TwilioAddress(number, whatsapp)
