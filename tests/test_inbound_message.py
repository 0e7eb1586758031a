"""Reading Twilio's inbound-message parameters: what is kept, cleaned and capped."""

import pytest

from db.inbound_message import MAX_BODY, MAX_MEDIA, clean, read_inbound

pytestmark = pytest.mark.database_independent

SID = "SM" + "a1" * 16


def params(**changes: str) -> dict[str, str]:
    return {"MessageSid": SID, "From": "+14155550100", "Body": "Hi", "NumMedia": "0", **changes}


@pytest.mark.parametrize(
    ("text", "limit", "one_line", "expected"),
    [
        ("plain", 10, False, "plain"),
        ("a\x00b", 10, False, "ab"),
        ("line\r\nnext\ttab", 20, False, "line\nnext\ttab"),
        ("bell\x07 esc\x1b del\x7f c1\x85", 30, False, "bell esc del c1"),
        ("sep\u2028par\u2029", 20, False, "seppar"),
        ("lone\ud800surrogate", 20, False, "lonesurrogate"),
        ("émoji 👋 ok", 20, False, "émoji 👋 ok"),
        ("x" * 50, 10, False, "x" * 10),
        ("  Ann\nLee\t ", 20, True, "Ann Lee"),
        ("\x00" * 100 + "kept", 4, False, "kept"),
    ],
)
def test_clean(text: str, limit: int, one_line: bool, expected: str) -> None:
    assert clean(text, limit, one_line=one_line) == expected


def test_an_sms_reply() -> None:
    message = read_inbound(params(Body="Yes\x00 please"))
    assert message is not None
    assert (message.message_sid, message.number, message.whatsapp) == (SID, "+14155550100", False)
    assert (message.body, message.button_payload, message.media_urls) == ("Yes please", "", ())


def test_a_whatsapp_button_tap() -> None:
    message = read_inbound(
        params(
            From="whatsapp:+14155550100",
            ButtonPayload="yes-please",
            ButtonText="Yes please",
            ProfileName="Zoë\n",
            OriginalRepliedMessageSid="SM" + "b" * 32,
        )
    )
    assert message is not None
    assert message.whatsapp is True
    assert (message.button_payload, message.button_text) == ("yes-please", "Yes please")
    assert (message.profile_name, message.replied_to_sid) == ("Zoë", "SM" + "b" * 32)


@pytest.mark.parametrize(
    "changes",
    [
        {"MessageSid": ""},
        {"MessageSid": "SM123"},
        {"MessageSid": SID + "0"},
        {"MessageSid": "sm" + "a" * 32},
        {"From": ""},
        {"From": "Twilio"},
        {"From": "12345"},
        {"From": "+0123"},
        {"From": "whatsapp:"},
        {"From": "messenger:+14155550100"},
        {"From": "+1415555010\x00"},
    ],
)
def test_a_message_without_sid_or_number_is_not_read(changes: dict[str, str]) -> None:
    assert read_inbound(params(**changes)) is None


def test_media_is_counted_and_capped() -> None:
    media = {f"MediaUrl{i}": f"https://api.twilio.com/ME{i}" for i in range(20)}
    media["MediaUrl1"] = "ftp://api.twilio.com/ME1"
    media["MediaUrl2"] = "https://x/" + "y" * 3_000
    media["MediaUrl4"] = "https://api.twilio.com/a b"
    message = read_inbound(params(NumMedia="20", **media))
    assert message is not None
    kept = [f"https://api.twilio.com/ME{i}" for i in range(MAX_MEDIA) if i not in (1, 2, 4)]
    assert list(message.media_urls) == kept


@pytest.mark.parametrize("count", ["", "-1", "x", "1e3", "99999999999999", "٣"])
def test_a_media_count_that_is_not_a_small_number_reads_as_none(count: str) -> None:
    message = read_inbound(params(NumMedia=count, MediaUrl0="https://api.twilio.com/ME0"))
    assert message is not None
    assert message.media_urls == ()


def test_the_body_is_capped() -> None:
    message = read_inbound(params(Body="z" * 100_000))
    assert message is not None
    assert message.body == "z" * MAX_BODY


@pytest.mark.parametrize(
    ("given", "read"), [("STOP", "STOP"), ("start", "START"), (" help ", "HELP"), ("OTHER", "")]
)
def test_twilios_opt_out_type(given: str, read: str) -> None:
    message = read_inbound(params(OptOutType=given))
    assert message is not None
    assert message.opt_out_type == read
