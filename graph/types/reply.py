from datetime import datetime
from typing import Self

import strawberry

from db import models
from db.inbound_message import MAX_BODY, MAX_BUTTON, MAX_MEDIA
from graph.enums import OptOutKeyword
from graph.ids import encode_id
from graph.types.node import Node


@strawberry.type(
    description="A message a contact sent to a WhatsApp/SMS channel's number (Twilio's inbound "
    "webhook), kept once however often Twilio posts it, under the lead it answers. Its text "
    "is the sender's: control characters other than newline and tab are removed."
)
class Reply(Node):
    body: str = strawberry.field(
        description=f'What the contact wrote ("" for a tap or media only); at most '
        f"{MAX_BODY:,} characters (longer text is cut)."
    )
    button_payload: str | None = strawberry.field(
        description="The id of the quick-reply button tapped (Twilio's ButtonPayload); null "
        f"when none was. At most {MAX_BUTTON} characters."
    )
    button_text: str | None = strawberry.field(
        description="The text of the button tapped (Twilio's ButtonText); null when none "
        f"was. At most {MAX_BUTTON} characters."
    )
    media_urls: list[str] = strawberry.field(
        description=f"Twilio's URLs of the media it carried, at most {MAX_MEDIA}, in order."
    )
    opt_out_keyword: OptOutKeyword | None = strawberry.field(
        description="The consent keyword it was (STOP withdrew consent, START gave it back, "
        "HELP changed nothing); null for an ordinary reply. A keyword is not counted as a reply."
    )
    is_opt_out: bool = strawberry.field(
        description="True when it withdrew the contact's consent for the channel (STOP)."
    )
    received_at: datetime = strawberry.field(description="When Clarion received it.")

    @classmethod
    def from_model(cls, m: models.Reply) -> Self:
        keyword = OptOutKeyword(m.opt_out) if m.opt_out else None
        return cls(
            id=strawberry.ID(encode_id("Reply", m.id)),
            body=m.body,
            button_payload=m.button_payload or None,
            button_text=m.button_text or None,
            media_urls=list(m.media_urls or []),
            opt_out_keyword=keyword,
            is_opt_out=keyword is OptOutKeyword.STOP,
            received_at=m.received_at,
        )
