"""The page behind every message's unsubscribe link: GET asks to confirm, POST (the page's
button, or a mail client's RFC 8058 one-click request) withdraws the contact's email
consent (recorded; its pending leads in running email campaigns are opted out). No API
key: the signed token in the link is the authority."""

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from db.unsubscribe import contact_for, recipient, unsubscribe

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Unsubscribe</title>
<style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1rem}}</style></head>
<body>{body}</body></html>"""
TEST_TOKEN = "test"


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=status)


async def unsubscribe_page(request: Request) -> HTMLResponse:
    token = request.path_params["token"]
    if token == TEST_TOKEN:
        return _page("<p>This link comes from a test message: nothing to unsubscribe.</p>")
    db = request.state.db
    async with db.read() as session:
        link = await contact_for(session, request.state.signing_key, token)
    if link is None:
        return _page("<p>This unsubscribe link is not valid.</p>", 404)
    if request.method == "POST":
        async with db.write() as session:
            email = await unsubscribe(session, link)
        if email is None:
            return _page("<p>This unsubscribe link is no longer valid.</p>", 404)
        return _page(f"<p><b>{escape(email)}</b> will get no more marketing email.</p>")
    async with db.read() as session:
        found = await recipient(session, link.contact_id)
    if found is None:
        return _page("<p>This unsubscribe link is no longer valid.</p>", 404)
    email, sender = found
    return _page(
        f"<p>Stop marketing email from <b>{escape(sender)}</b> to <b>{escape(email)}</b>?</p>"
        '<form method="post"><button type="submit">Unsubscribe</button></form>'
    )
