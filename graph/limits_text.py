"""How the schema states input limits (db/validation.py enforces them): one phrase each, so
every field that shares a limit describes it the same way."""

from db import phones
from db import validation as v
from db.usecases import conversions as conv

ADDRESS = (
    f"One email address, the whole string (no display name, spaces or control "
    f"characters); at most {v.MAX_EMAIL_LENGTH} characters (INVALID / TOO_LONG)."
)
NAME = (
    f"One line without control characters; at most {v.MAX_NAME_LENGTH} characters "
    "(INVALID / TOO_LONG)."
)
DESCRIPTION = (
    f"Free text: tabs and line ends allowed, no other control characters; at most "
    f"{v.MAX_DESCRIPTION_LENGTH} characters."
)
TAGS = f"At most {v.MAX_TAGS} tags (TOO_MANY), each 1 to {v.MAX_TAG_LENGTH} characters on one line."
REF = f"By global ID or code; a code is at most {v.MAX_CODE_LENGTH} characters."
PHONE = (
    f"Any common written form, e.g. +1 (415) 555-0123, or (415) 555-0123 with the contact's "
    f"country: digits, spaces, - . / ( ) and a leading +, no letters or extensions, at most "
    f"{phones.MAX_INPUT_LENGTH} characters; it must be a valid number of its country (INVALID)."
)
CONVERSION_PAYLOADS = (
    f"the quick-reply ids (each a button's `id`, which WhatsApp sends back as ButtonPayload) "
    f"whose tap converts the lead that taps it: at most {conv.MAX_PAYLOADS} (TOO_MANY), each "
    f"1 to {conv.MAX_PAYLOAD_LENGTH} characters (REQUIRED / TOO_LONG) without control "
    f"characters (INVALID), no repeats (DUPLICATE), and each the id of one of the content's "
    f"quick replies (INVALID; content without quick replies takes none). Each problem is a "
    f"userError on conversionPayloads.<index>; nothing changes."
)
PHONE_INTERNATIONAL = (
    f"With its country code, in any common written form (+1 (415) 555-0123): digits, spaces, "
    f"- . / ( ) and a leading +, no letters or extensions, at most {phones.MAX_INPUT_LENGTH} "
    f"characters; it must be a valid number of its country (INVALID / TOO_LONG)."
)
