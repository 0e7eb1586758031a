"""The Starlette app: GraphQL (HTTP and WebSocket) with GraphiQL, health, and the lifespan
that owns every resource: database, Redis (embedded or given), arq pool, in-process worker."""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, TypedDict

from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from db.engine import Database, connect
from db.migrate import upgrade
from db.settings import Settings
from db.unsubscribe import signing_key
from graph.auth import account_for
from graph.context import Context
from graph.dashboard import dashboard
from graph.progress_hub import ProgressHub
from graph.schema import schema
from graph.unsubscribe import unsubscribe_page
from jobs.embedded_redis import embedded_redis
from jobs.worker import build_worker
from jobs.worker import stop as stop_worker

log = logging.getLogger(__name__)

# A dashboard needs a handful; the limit keeps one socket from tying up the process.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
# uvicorn's ws_per_message_deflate. Progress messages are ~200 bytes: compressing them
# costs more than it saves (off, with 1,000 subscribers: 40% less memory per socket and
# the update lag's p99 838 -> 558 ms in make bench-progress).
WS_COMPRESSION = False


class State(TypedDict):
    db: Database
    queue: ArqRedis
    # Verifies unsubscribe links (made by workers with the same key).
    signing_key: bytes
    hub: ProgressHub


class ClarionGraphQL(GraphQL[Context, None]):
    def decode_json(self, data: str | bytes) -> object:
        """JSON a client sent (HTTP body, GET variables, WebSocket message). What Python's
        parser refuses beyond syntax (an integer over 4,300 digits, nesting deeper than its
        recursion limit) is malformed input too: a 400 / a closed socket, not a 500."""
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise json.JSONDecodeError(str(exc), "", 0) from exc

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        # Strawberry reads a request as an object (or a batch, a list): "x" or 5 was a 500.
        # (answered like any unparsable body: 400 "Unable to parse request body as JSON").
        if not isinstance(parsed, dict | list | None):
            raise json.JSONDecodeError("not a JSON object", "", 0)
        return parsed

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.state
        return Context(
            db=state.db,
            queue=state.queue,
            hub=state.hub,
            # HTTP: set by AuthGate. WebSocket: set by on_ws_connect before any operation.
            account_id=getattr(state, "account_id", 0),
            request=request,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticates a WebSocket from its `connection_init` payload, with the same keys
        as HTTP: {"Authorization": "Bearer <key>"}. Without one it is closed (4403)."""
        params = context.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        account_id = await account_for(context.db, header if isinstance(header, str) else None)
        if account_id is None:
            raise ConnectionRejectionError()
        context.account_id = account_id
        no_ack_payload: UnsetType = UNSET
        return no_ack_payload


class AuthGate:
    """Refuses GraphQL HTTP requests without a valid API key (401); the GraphiQL page is open."""

    def __init__(self, app: ClarionGraphQL) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            if not _is_graphiql_page(request):
                account_id = await account_for(
                    scope["state"]["db"], request.headers.get("authorization")
                )
                if account_id is None:
                    await _unauthorized()(scope, receive, send)
                    return
                scope["state"]["account_id"] = account_id
        await self.app(scope, receive, send)


def _is_graphiql_page(request: Request) -> bool:
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


def _unauthorized() -> Response:
    return JSONResponse(
        {
            "errors": [
                {
                    "message": "A valid API key is required: Authorization: Bearer <key>.",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ]
        },
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="clarion"'},
    )


async def health(request: Request) -> Response:
    try:
        async with request.state.db.read() as session:
            await session.execute(text("SELECT 1"))
        await request.state.queue.ping()
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with contextlib.AsyncExitStack() as stack:
            redis_url = settings.redis_url
            if redis_url is None:
                redis_url = await stack.enter_async_context(embedded_redis(settings.data_dir))
            await upgrade(settings.database_url)
            db = connect(settings.database_url)
            stack.push_async_callback(db.dispose)
            queue = await create_pool(RedisSettings.from_dsn(redis_url))
            stack.push_async_callback(queue.aclose)
            if settings.embedded_worker:
                worker = build_worker(queue, db, settings)
                stack.push_async_callback(
                    stop_worker, worker, asyncio.create_task(worker.async_run())
                )
            async with db.write() as session:
                key = await signing_key(session)
            hub = ProgressHub(queue)
            await hub.start()
            stack.push_async_callback(hub.stop)
            log.info("Clarion ready: database %s, redis %s", db.engine.url, redis_url)
            yield {"db": db, "queue": queue, "signing_key": key, "hub": hub}

    graphql = ClarionGraphQL(
        schema,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        allowed_origins=settings.allowed_origins,
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    return Starlette(
        routes=[
            Route("/graphql", AuthGate(graphql)),
            WebSocketRoute("/graphql", graphql),
            Route("/health", health),
            Route("/dashboard", dashboard),
            Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )
