"""Which inbound messages change their sender's consent (db/opt_out_keywords.py)."""

import pytest

from db.enums import OptOutKeyword
from db.inbound_message import InboundMessage
from db.opt_out_keywords import consent_request

pytestmark = pytest.mark.database_independent

STOP, START, HELP = OptOutKeyword.STOP, OptOutKeyword.START, OptOutKeyword.HELP


def message(body: str = "", **fields: str) -> InboundMessage:
    values = {
        "message_sid": "SM" + "0" * 32,
        "number": "+14155550100",
        "whatsapp": False,
        "body": body,
        "button_payload": "",
        "button_text": "",
        "media_urls": (),
        "profile_name": "",
        "replied_to_sid": "",
        "opt_out_type": "",
    }
    return InboundMessage(**(values | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "sms", "whatsapp"),
    [
        ("STOP", STOP, STOP),
        ("stop", STOP, STOP),
        (" Stop\n", STOP, STOP),
        ("STOPALL", STOP, STOP),
        ("Unsubscribe", STOP, STOP),
        ("cancel", STOP, STOP),
        ("END", STOP, STOP),
        ("quit", STOP, STOP),
        ("revoke", STOP, STOP),
        ("OPTOUT", STOP, STOP),
        ("START", START, START),
        ("unstop", START, START),
        ("yes", START, None),  # on WhatsApp a YES answers the campaign's question
        ("HELP", HELP, None),  # SMS's carrier keyword; on WhatsApp an ordinary question
        ("info", HELP, None),
        ("stop please", None, None),
        ("STOP!", None, None),
        ("opt out", None, None),
        ("", None, None),
        ("Thanks!", None, None),
    ],
)
def test_keywords(body: str, sms: OptOutKeyword | None, whatsapp: OptOutKeyword | None) -> None:
    on_sms = consent_request(message(body), whatsapp=False)
    on_whatsapp = consent_request(message(body), whatsapp=True)
    assert (on_sms.keyword if on_sms else None) == sms
    assert (on_whatsapp.keyword if on_whatsapp else None) == whatsapp


def test_the_reason_names_the_word() -> None:
    request = consent_request(message(" stopall "), whatsapp=False)
    assert request is not None
    assert request.reason == "Texted STOPALL"


@pytest.mark.parametrize(
    ("opt_out_type", "body", "keyword"),
    [("STOP", "ARRET", STOP), ("START", "GO", START), ("HELP", "AIDE", HELP), ("STOP", "", STOP)],
)
def test_twilios_opt_out_type_decides_on_sms(
    opt_out_type: str, body: str, keyword: OptOutKeyword
) -> None:
    request = consent_request(message(body, opt_out_type=opt_out_type), whatsapp=False)
    assert request is not None
    assert request.keyword is keyword
    assert "OptOutType" in request.reason


@pytest.mark.parametrize(
    "fields",
    [
        {"button_text": "Stop promotions"},
        {"button_payload": "STOP PROMOTIONS"},
        {"button_text": " stop promotions ", "body": "Stop promotions"},
    ],
)
def test_whatsapps_stop_promotions_button(fields: dict[str, str]) -> None:
    request = consent_request(message(**fields), whatsapp=True)
    assert request is not None
    assert request.keyword is STOP
    assert request.reason.startswith("Tapped ")
    # On SMS there is no such button: an ordinary message.
    assert consent_request(message(**{**fields, "body": "x"}), whatsapp=False) is None
