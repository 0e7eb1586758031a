"""A campaign's rates: a count of leads as a percentage of the messages sent.

Pure and exact: the division is done in decimal and rounded half up to 2 places, so
1 of 8 is 12.5 and 1 of 32 is 3.13 (a float's 3.125 would round to 3.12). A part larger
than the whole (a lead that replied after Twilio reported its message failed, which takes
it out of the sent count) is capped: a rate is at most 100.
"""

from decimal import ROUND_HALF_UP, Decimal

_PLACES = Decimal("0.01")


def percentage(part: int, whole: int) -> float:
    """`part` of `whole` in percent (0 to 100, 2 decimals); 0 when `whole` is 0."""
    if whole <= 0 or part <= 0:
        return 0.0
    share = Decimal(min(part, whole) * 100) / Decimal(whole)
    return float(share.quantize(_PLACES, rounding=ROUND_HALF_UP))
