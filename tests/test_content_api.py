"""The Content API calls (jobs/channels/twilio/content_api.py) against the Twilio stand-in
(its own process): reading a template of the user's account with its approval."""

import httpx
import pytest

from db.enums import ApprovalStatus, ContentType
from jobs.channels.twilio.client import twilio_client
from jobs.channels.twilio.content_api import ContentApiError, fetch_approval, fetch_content
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["twilio_standin"]


async def test_fetch_content_reads_a_template_and_its_approval(twilio_standin: Standin) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("approved", after_fetches=0)
    auth = (twilio_standin.account_sid, twilio_standin.auth_token)
    types = {
        "twilio/quick-reply": {
            "body": "Hi {{first_name}}, still interested?",
            "actions": [{"type": "QUICK_REPLY", "title": "Yes", "id": "yes"}],
        },
        "twilio/text": {"body": "Hi {{first_name}}, still interested?"},
    }
    async with httpx.AsyncClient(base_url=twilio_standin.base_url, auth=auth) as raw:
        made = await raw.post(
            "/v1/Content", json={"friendly_name": "mine", "language": "en", "types": types}
        )
        assert made.status_code == 201, made.text
        sid = made.json()["sid"]
        submitted = await raw.post(
            f"/v1/Content/{sid}/ApprovalRequests/whatsapp",
            json={"name": "still_interested", "category": "MARKETING"},
        )
        assert submitted.status_code == 201, submitted.text
        location = await raw.post(
            "/v1/Content",
            json={
                "language": "en",
                "types": {"twilio/location": {"latitude": 1.5, "longitude": 2.5, "label": "Shop"}},
            },
        )
        assert location.status_code == 201, location.text

    client, http = twilio_client(*auth, twilio_standin.base_url)
    try:
        found = await fetch_content(client, sid)
        missing = await fetch_content(client, "HX" + "0" * 32)
        other = await fetch_content(client, location.json()["sid"])
    finally:
        await http.aclose()
    assert found is not None
    assert found.content_type is ContentType.QUICK_REPLY
    assert found.context == types["twilio/quick-reply"]
    assert (found.approval, found.rejection_reason) == (ApprovalStatus.APPROVED, "")
    assert missing is None
    assert other is not None
    assert other.content_type is None
    assert other.approval is ApprovalStatus.UNSUBMITTED


async def test_fetch_with_a_wrong_token_is_a_content_api_error(twilio_standin: Standin) -> None:
    client, http = twilio_client(twilio_standin.account_sid, "f" * 32, twilio_standin.base_url)
    try:
        with pytest.raises(ContentApiError) as refused:
            await fetch_approval(client, "HX" + "0" * 32)
    finally:
        await http.aclose()
    assert refused.value.status == 401
    assert refused.value.reason.startswith("Twilio 20003: ")
