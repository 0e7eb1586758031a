"""What every resolver gets as `info.context`: never a shared session, only factories."""

from dataclasses import dataclass, field

from arq.connections import ArqRedis
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from db.engine import Database
from graph.loaders import Loaders
from graph.progress_hub import ProgressHub
from jobs.channels.email.render_pool import RenderPool


@dataclass
class Context:
    db: Database
    queue: ArqRedis
    # Live progress for subscriptions (one Redis subscription per process).
    hub: ProgressHub
    # Trial renders of templates being saved (graph/template_trial.py).
    renderer: RenderPool
    account_id: int
    request: Request | WebSocket
    # The graphql-transport-ws `connection_init` payload (WebSockets only).
    connection_params: dict[str, object] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)


Info = StrawberryInfo[Context, None]
