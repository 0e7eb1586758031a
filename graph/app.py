"""The Starlette app: GraphQL (HTTP and WebSocket) with GraphiQL, health, and the lifespan
that owns every resource: database, Redis (embedded or given), arq pool, in-process worker."""

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, TypedDict

from arq.connections import ArqRedis
from starlette.applications import Starlette
from starlette.middleware import Middleware
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
from db.secrets import attach, load_keyring, make_sqlite_file_private, seal_stored_secrets
from db.settings import Settings, redact_url
from db.unsubscribe import signing_key
from db.usecases.message_status import StatusEvent
from graph.auth import account_for, key_for
from graph.context import Context
from graph.dashboard import dashboard
from graph.health import health_endpoint
from graph.hooks.hook_channels import HookChannels
from graph.hooks.inbound import inbound_hook
from graph.hooks.status import status_callback
from graph.hooks.status_batcher import StatusBatcher
from graph.limits import BodyLimit
from graph.progress_hub import ProgressHub
from graph.schema import schema
from graph.sockets import (
    CLOSE_WITH,
    TOO_MANY,
    ClarionWebSocketAdapter,
    SocketGate,
    SocketRegistry,
)
from graph.unsubscribe import unsubscribe_page
from jobs.channels.email.render_pool import API_RENDER_PROCESSES, RenderPool
from jobs.channels.twilio.hook_urls import INBOUND_PATH, STATUS_CALLBACK_PATH
from jobs.embedded_redis import embedded_redis
from jobs.group_commit import GroupCommit
from jobs.inbound_queue import MAX_BATCH as INBOUND_BATCH
from jobs.inbound_queue import QueuedInbound
from jobs.inbound_queue import push as push_inbound
from jobs.redis_pool import connect_queue
from jobs.status_queue import MAX_BATCH, push
from jobs.worker import SupervisedWorker

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
    renderer: RenderPool
    sockets: SocketRegistry
    settings: Settings
    # Queues Twilio's status callbacks on Redis, concurrent ones in one push.
    status_pusher: GroupCommit[StatusEvent]
    # Applies them itself while Redis is unreachable (graph/hooks/status_batcher.py).
    status_batcher: StatusBatcher
    # Queues the messages people send (jobs/inbound_queue.py), concurrent ones in one push.
    inbound_pusher: GroupCommit[QueuedInbound]
    # Webhooks' channels and tokens, kept for a few seconds (graph/hooks/hook_channels.py).
    hook_channels: HookChannels


class ClarionGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = ClarionWebSocketAdapter

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
            renderer=state.renderer,
            # HTTP: set by AuthGate. WebSocket: set by on_ws_connect before any operation.
            account_id=getattr(state, "account_id", 0),
            request=request,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticates a WebSocket from its `connection_init` payload, with the same keys
        as HTTP: {"Authorization": "Bearer <key>"}. Without one it is closed (4403); over
        the account's socket cap, with 4429; when its key is revoked later, with 4401."""
        params = context.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        key = await key_for(context.db, header if isinstance(header, str) else None)
        if key is None:
            raise ConnectionRejectionError()
        websocket = context.request
        assert isinstance(websocket, WebSocket)
        if not websocket.state.sockets.admit(key.account_id, key.id, websocket):
            websocket.scope[CLOSE_WITH] = TOO_MANY
            raise ConnectionRejectionError()
        context.account_id = key.account_id
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


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with contextlib.AsyncExitStack() as stack:
            redis_url = settings.redis_url
            if redis_url is None:
                redis_url = await stack.enter_async_context(embedded_redis(settings.data_dir))
            make_sqlite_file_private(settings.database_url)
            await upgrade(settings.database_url)
            db = connect(settings.database_url)
            stack.push_async_callback(db.dispose)
            attach(db, load_keyring(settings.secret_keys, settings.data_dir))
            await seal_stored_secrets(db)
            queue = await connect_queue(redis_url)
            stack.push_async_callback(queue.aclose)
            if settings.embedded_worker:
                worker = SupervisedWorker(queue, db, settings)
                worker.start()
                stack.push_async_callback(worker.stop)
            async with db.write() as session:
                key = await signing_key(session)
            hub = ProgressHub(queue, db)
            await hub.start()
            stack.push_async_callback(hub.stop)
            renderer = RenderPool(API_RENDER_PROCESSES)
            stack.push_async_callback(renderer.close)
            sockets = SocketRegistry(db)
            await sockets.start()
            stack.push_async_callback(sockets.stop)
            status_pusher = GroupCommit(partial(push, queue), MAX_BATCH)
            stack.push_async_callback(status_pusher.stop)
            status_batcher = StatusBatcher(settings.database_url, queue)
            stack.push_async_callback(status_batcher.stop)
            inbound_pusher = GroupCommit(partial(push_inbound, queue), INBOUND_BATCH)
            stack.push_async_callback(inbound_pusher.stop)
            log.info(
                "Clarion ready: database %s, redis %s",
                redact_url(settings.database_url),
                redact_url(redis_url),
            )
            yield {
                "db": db,
                "queue": queue,
                "signing_key": key,
                "hub": hub,
                "sockets": sockets,
                "settings": settings,
                "renderer": renderer,
                "status_pusher": status_pusher,
                "status_batcher": status_batcher,
                "inbound_pusher": inbound_pusher,
                "hook_channels": HookChannels(db),
            }

    graphql = ClarionGraphQL(
        schema,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        allowed_origins=settings.allowed_origins,
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    return Starlette(
        routes=[
            Route("/graphql", AuthGate(graphql)),
            WebSocketRoute("/graphql", SocketGate(graphql)),
            Route("/health", health_endpoint(settings.worker_stale_seconds)),
            Route("/dashboard", dashboard),
            Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET", "POST"]),
            Route(STATUS_CALLBACK_PATH, status_callback, methods=["POST"]),
            Route(INBOUND_PATH, inbound_hook, methods=["POST"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(BodyLimit, max_bytes=settings.max_body_bytes)],
    )
