"""db/usecases/conversions.py's pure part: which quick-reply ids a content offers."""

from typing import Any

import pytest

from db.enums import ContentType
from db.usecases.conversions import quick_reply_ids

URL = {"type": "URL", "title": "Shop", "url": "https://example.com/shop"}


@pytest.mark.parametrize(
    ("content_type", "context", "ids"),
    [
        (
            ContentType.QUICK_REPLY,
            {"body": "Coming?", "actions": [{"title": "Yes", "id": "yes"}, {"title": "No"}]},
            ["yes"],  # a quick reply may leave out its type; one without an id has none
        ),
        (
            ContentType.QUICK_REPLY,
            {"actions": [{"type": "QUICK_REPLY", "title": "A", "id": "a"}, {"id": "b"}]},
            ["a", "b"],
        ),
        (
            ContentType.CARD,
            {"title": "Sale", "actions": [URL, {"type": "QUICK_REPLY", "title": "A", "id": "a"}]},
            ["a"],
        ),
        (ContentType.CARD, {"title": "Sale", "actions": [{"title": "A", "id": "a"}]}, []),
        (ContentType.CALL_TO_ACTION, {"body": "Hi", "actions": [URL]}, []),
        (ContentType.TEXT, {"body": "Hi"}, []),
        (ContentType.QUICK_REPLY, {"actions": "yes"}, []),
        (ContentType.QUICK_REPLY, {"actions": ["yes", None, {"id": 5}, {"id": ""}]}, []),
        (ContentType.QUICK_REPLY, None, []),
        (ContentType.QUICK_REPLY, ["not", "an", "object"], []),
    ],
)
def test_quick_reply_ids(content_type: ContentType, context: Any, ids: list[str]) -> None:
    assert quick_reply_ids(content_type, context) == ids
