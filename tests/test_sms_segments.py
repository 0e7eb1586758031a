"""SMS segment counts: GSM-7 160/153 (extension characters cost two), UCS-2 70/67."""

import time

import pytest

from jobs.channels.twilio.segments import Segments, segments

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

A = "a"
EURO = "€"  # GSM-7 extension table: two septets
OGONEK = "ą"  # not in GSM-7: the whole body becomes UCS-2
EMOJI = "😀"  # outside the BMP: two UTF-16 code units


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", Segments("GSM-7", 0, 0, 0)),
        (A, Segments("GSM-7", 1, 1, 1)),
        (A * 160, Segments("GSM-7", 160, 1, 160)),
        (A * 161, Segments("GSM-7", 161, 2, 161)),
        (A * 306, Segments("GSM-7", 306, 2, 306)),
        (A * 307, Segments("GSM-7", 307, 3, 307)),
        (A * 459, Segments("GSM-7", 459, 3, 459)),
        (A * 460, Segments("GSM-7", 460, 4, 460)),
        # The basic table's accented letters and symbols stay GSM-7, one septet each.
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà\n\r", Segments("GSM-7", 43, 1, 43)),
    ],
)
def test_gsm7_single_and_concatenated(body: str, expected: Segments) -> None:
    assert segments(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (EURO, Segments("GSM-7", 1, 1, 2)),
        ("{", Segments("GSM-7", 1, 1, 2)),
        ("^{}\\[~]|€\f", Segments("GSM-7", 10, 1, 20)),
        (EURO * 80, Segments("GSM-7", 80, 1, 160)),
        (EURO * 81, Segments("GSM-7", 81, 2, 162)),
        (A * 159 + "{", Segments("GSM-7", 160, 2, 161)),
        (A * 158 + "{", Segments("GSM-7", 159, 1, 160)),
        # 306 septets would fit two parts, but the escape pair is not split across parts:
        # part one holds 152 "a", part two "€" and 151 "a", part three the last "a".
        (A * 152 + EURO + A * 152, Segments("GSM-7", 305, 3, 306)),
        (A * 151 + EURO + A * 153, Segments("GSM-7", 305, 2, 306)),
    ],
)
def test_gsm7_extension_characters_cost_two_septets(body: str, expected: Segments) -> None:
    assert segments(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (OGONEK, Segments("UCS-2", 1, 1, 1)),
        (A * 69 + OGONEK, Segments("UCS-2", 70, 1, 70)),
        (A * 70 + OGONEK, Segments("UCS-2", 71, 2, 71)),
        (A * 133 + OGONEK, Segments("UCS-2", 134, 2, 134)),
        (A * 134 + OGONEK, Segments("UCS-2", 135, 3, 135)),
        # One non-GSM character anywhere makes every character UCS-2, "€" included (1 unit).
        (EURO * 69 + OGONEK, Segments("UCS-2", 70, 1, 70)),
        ("\u2019", Segments("UCS-2", 1, 1, 1)),  # a curly quote: no Smart Encoding is assumed
        ("`", Segments("UCS-2", 1, 1, 1)),
        ("\x1b", Segments("UCS-2", 1, 1, 1)),  # a literal ESC is not GSM text
    ],
)
def test_one_non_gsm_character_switches_to_ucs2(body: str, expected: Segments) -> None:
    assert segments(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (EMOJI, Segments("UCS-2", 1, 1, 2)),
        (EMOJI * 35, Segments("UCS-2", 35, 1, 70)),
        (EMOJI * 36, Segments("UCS-2", 36, 2, 72)),
        (EMOJI * 67, Segments("UCS-2", 67, 3, 134)),  # 33 pairs a part: 66 units, not 67
        # 134 units would fit two parts, but a surrogate pair is never split.
        (A * 66 + EMOJI + A * 66, Segments("UCS-2", 133, 3, 134)),
        (A * 65 + EMOJI + A * 67, Segments("UCS-2", 133, 2, 134)),
    ],
)
def test_emoji_counts_as_two_code_units(body: str, expected: Segments) -> None:
    assert segments(body) == expected


@pytest.mark.parametrize(
    "body",
    [A * 1_000_000, EURO * 1_000_000, EMOJI * 500_000 + OGONEK, ("{" + EMOJI) * 300_000],
)
def test_a_megabyte_body_is_counted_in_one_linear_pass(body: str) -> None:
    started = time.perf_counter()
    result = segments(body)
    elapsed = time.perf_counter() - started
    print(f"segments of {len(body)} characters: {elapsed:.3f}s")
    assert result.characters == len(body)
    assert result.segments > 0
