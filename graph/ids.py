"""Relay global IDs: opaque base64 of "Type:id", so clients never build them by hand."""

import base64
import binascii

# Database ids are 64-bit signed integers; a larger number names nothing.
MAX_ID = 2**63 - 1


def encode_id(type_name: str, ident: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{ident}".encode()).decode().rstrip("=")


def decode_id(value: str) -> tuple[str, int] | None:
    """(type name, database id), or None when `value` is not one of our global IDs."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, ident = raw.partition(":")
    if not sep or not type_name.isidentifier() or not (ident.isascii() and ident.isdigit()):
        return None
    number = int(ident)
    return (type_name, number) if number <= MAX_ID else None


def decode_as(value: str, type_name: str) -> int | None:
    decoded = decode_id(value)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


def decode_ref(value: str, type_name: str) -> int | str:
    """A reference that is either a global ID of `type_name` or a code."""
    ident = decode_as(value, type_name)
    return value.strip() if ident is None else ident
