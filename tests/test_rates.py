"""The reply and conversion rates' one definition (db/rates.py)."""

import pytest

from db.rates import rate


@pytest.mark.parametrize(
    ("part", "sent", "expected"),
    [
        (0, 0, 0.0),  # nothing sent: 0, not a division by zero
        (5, 0, 0.0),
        (0, 7, 0.0),
        (3, 7, 42.86),  # 42.857…
        (1, 7, 14.29),  # 14.285…
        (1, 3, 33.33),
        (2, 3, 66.67),
        (1, 8, 12.5),  # 12.5 exactly
        (1, 800, 0.13),  # 0.125: half up, not to even
        (1, 1600, 0.06),  # 0.0625
        (7, 7, 100.0),
        (1, 20_000, 0.01),  # 0.005: half up
        (1, 20_001, 0.0),
    ],
)
def test_rate(part: int, sent: int, expected: float) -> None:
    assert rate(part, sent) == expected
