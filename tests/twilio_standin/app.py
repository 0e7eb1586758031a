"""The stand-in's Starlette app: Twilio's two path families (api.twilio.com's
`/2010-04-01/...` and content.twilio.com's `/v1/...`) on one server, plus `/_standin/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.twilio_standin import callbacks_control, content, control, messages
from tests.twilio_standin.callbacks import Dispatcher
from tests.twilio_standin.errors import TwilioError
from tests.twilio_standin.state import Account, Store
from tests.twilio_standin.validation import operations

_MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages"
ROUTES = [
    Route(_MESSAGES + ".json", messages.create_message, methods=["POST"]),
    Route(_MESSAGES + ".json", messages.list_messages, methods=["GET"]),
    Route(_MESSAGES + "/{Sid}.json", messages.fetch_message, methods=["GET"]),
    Route("/v1/Content", content.create_content, methods=["POST"]),
    Route("/v1/Content", content.list_contents, methods=["GET"]),
    Route("/v1/Content/{Sid}", content.fetch_content, methods=["GET"]),
    Route(
        "/v1/Content/{ContentSid}/ApprovalRequests/whatsapp",
        content.create_approval,
        methods=["POST"],
    ),
    Route("/v1/Content/{Sid}/ApprovalRequests", content.fetch_approvals, methods=["GET"]),
    *control.ROUTES,
    *callbacks_control.ROUTES,
]


async def _twilio_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwilioError)
    return exc.response()


async def _control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, control.ControlError)
    return control.error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return TwilioError(
            20404, f"The requested resource {request.url.path} was not found"
        ).response()
    return TwilioError(20001, exc.detail, exc.status_code).response()


def create_app(
    sample: Account | None = None, concurrency: int = 256, callbacks_by_default: bool = True
) -> Starlette:
    """The app with a store holding `sample` (or a fresh sample account); at most
    `concurrency` status callbacks in flight; accounts' messages call back unless
    `callbacks_by_default` is false (then only once a callback_plan enables them)."""
    operations()  # compile the validators before the first request
    store = Store(callbacks_by_default)
    if sample is None:
        sample = store.create_account()
    else:
        store.accounts[sample.sid] = sample
    dispatcher = Dispatcher(concurrency)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await dispatcher.close()

    app = Starlette(
        lifespan=lifespan,
        routes=ROUTES,
        exception_handlers={
            TwilioError: _twilio_error,
            control.ControlError: _control_error,
            HTTPException: _http_error,
        },
    )
    app.state.store = store
    app.state.callbacks = dispatcher
    app.state.sample_sid = sample.sid
    return app
