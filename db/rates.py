"""A campaign's rates, one definition for every reader (live progress, the Campaign type):
a part of the messages sent, as a percentage with two decimals.

The reply rate is replied leads / sent messages, the conversion rate converted leads /
sent messages; both are 0 while nothing was sent. Computed in decimal and rounded half
up, so 1 of 3 is 33.33 and 2 of 3 is 66.67 on every platform.
"""

from decimal import ROUND_HALF_UP, Decimal

_CENTS = Decimal("0.01")


def rate(part: int, sent: int) -> float:
    """`part` as a percentage of `sent` (two decimals); 0 when nothing was sent."""
    if sent <= 0:
        return 0.0
    return float((Decimal(100 * part) / Decimal(sent)).quantize(_CENTS, ROUND_HALF_UP))
