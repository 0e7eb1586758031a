"""Which inbound messages change their sender's consent, and why in words.

Pure. Twilio's standard keywords (its SMS STOP filtering): the whole message, trimmed and
in any case, one word only ("STOP PLEASE" is an ordinary reply). On SMS with Advanced
Opt-Out, Twilio's own verdict (OptOutType, which covers the service's custom keywords)
is taken instead of the body. WhatsApp has no carrier STOP: the same keywords are honoured
here, plus Meta's marketing opt-out button ("Stop promotions"); START and UNSTOP opt
back in. YES, HELP and INFO stay ordinary replies there: they are carrier keywords of SMS,
and on WhatsApp a common answer to the campaign (counted as its reply).
"""

from dataclasses import dataclass

from db.enums import OptOutKeyword
from db.inbound_message import InboundMessage

STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS_SMS = frozenset({"START", "YES", "UNSTOP"})
START_WORDS_WHATSAPP = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# The text of Meta's "Marketing opt-out" quick-reply button in a WhatsApp template.
STOP_PROMOTIONS = "STOP PROMOTIONS"


@dataclass(frozen=True)
class ConsentRequest:
    keyword: OptOutKeyword
    reason: str  # for the consent change: "Texted STOP", "Tapped Stop promotions", ...


def consent_request(message: InboundMessage, *, whatsapp: bool) -> ConsentRequest | None:
    """What `message`, arriving on a WhatsApp (or else SMS) channel, asks of its sender's
    consent; None for an ordinary reply."""
    if message.opt_out_type and not whatsapp:
        keyword = OptOutKeyword(message.opt_out_type.lower())
        word = message.body.strip()[:40] or message.opt_out_type
        return ConsentRequest(
            keyword, f"Texted {word} (Twilio's OptOutType {message.opt_out_type})"
        )
    if whatsapp:
        for tapped in (message.button_text, message.button_payload):
            if tapped.strip().upper() == STOP_PROMOTIONS:
                return ConsentRequest(OptOutKeyword.STOP, f"Tapped {tapped.strip()}")
    word = message.body.strip().upper()
    starts = START_WORDS_WHATSAPP if whatsapp else START_WORDS_SMS
    if word in STOP_WORDS:
        return ConsentRequest(OptOutKeyword.STOP, f"Texted {word}")
    if word in starts:
        return ConsentRequest(OptOutKeyword.START, f"Texted {word}")
    if word in HELP_WORDS and not whatsapp:
        return ConsentRequest(OptOutKeyword.HELP, f"Texted {word}")
    return None
