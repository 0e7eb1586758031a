"""How many SMS segments a body takes (GSM-7 160/153, UCS-2 70/67), computed ourselves.

Twilio's `num_segments` can read 0 behind a Messaging Service, and pacing SMS is done in
segments, so the count comes from the body. Twilio's Smart Encoding (which swaps some
Unicode look-alikes for GSM characters) is not assumed: a curly quote counts as UCS-2.
"""

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic character set (ESC, 0x1B, is left out: a literal ESC is not text).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets (ESC + the character).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153  # septets in a lone segment / in each concatenated part
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units likewise

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class Segments:
    encoding: Encoding
    characters: int  # code points, as a person counts them
    segments: int  # 0 for an empty body
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2) the body costs


def segments(body: str) -> Segments:
    """The encoding and segment count Twilio will use for `body`."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in body]
        return _count("GSM-7", len(body), sizes, GSM7_SINGLE, GSM7_PART)
    # A code point above the BMP is a surrogate pair: two units, never split across parts.
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in body]
    return _count("UCS-2", len(body), sizes, UCS2_SINGLE, UCS2_PART)


def _count(
    encoding: Encoding, characters: int, sizes: list[int], single: int, part: int
) -> Segments:
    units = sum(sizes)
    if units == 0:
        return Segments(encoding, characters, 0, 0)
    if units <= single:
        return Segments(encoding, characters, 1, units)
    # Concatenated: fill each part greedily; a two-unit character (an escaped GSM
    # character or a surrogate pair) that does not fit starts the next part.
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return Segments(encoding, characters, count, units)
