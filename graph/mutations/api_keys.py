"""createApiKey and revokeApiKey. A revoked key is refused from the next request on, and
WebSockets it opened are closed within about a second (graph/sockets.py)."""

import strawberry

from db.types import utcnow
from db.usecases import api_keys as uc
from graph.context import Info
from graph.errors import UserError
from graph.mutations.support import pk, write
from graph.types.api_key import ApiKey


@strawberry.input(description="Create an API key for the viewer's account.")
class CreateApiKeyInput:
    name: str = strawberry.field(default="", description="A label for it; at most 255.")


@strawberry.type(description="Result of createApiKey.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(default=None, description="Null when refused.")
    key: str | None = strawberry.field(
        default=None,
        description="The key, to send as `Authorization: Bearer <key>`. Shown only here, "
        "once: it is stored hashed and cannot be read again.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused (TOO_MANY: at most 20 keys)."
    )


@strawberry.input(description="Revoke one of the account's API keys.")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The key's global ID.")


@strawberry.type(description="Result of revokeApiKey.")
class RevokeApiKeyPayload:
    revoked_id: strawberry.ID | None = strawberry.field(
        default=None, description="The ID of the revoked key; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why it was refused: NOT_FOUND (no such active key in this account), "
        "INVALID_STATE (the account's last key).",
    )


@strawberry.type
class ApiKeyMutations:
    @strawberry.mutation(description="Create an API key; the key is returned only this once.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        result = await write(info, lambda s, a: uc.create_api_key(s, a, input.name))
        if isinstance(result, list):
            return CreateApiKeyPayload(user_errors=result)
        model, key = result
        return CreateApiKeyPayload(api_key=ApiKey.from_model(model), key=key)

    @strawberry.mutation(
        description="Revoke an API key: refused at once on HTTP (401), and its open "
        "WebSockets are closed (4401) within about a second. The account's last key cannot "
        "be revoked (create another first). The key in use may revoke itself."
    )
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        result = await write(
            info, lambda s, a: uc.revoke_api_key(s, a, pk(input.id, "ApiKey"), utcnow())
        )
        if isinstance(result, list):
            return RevokeApiKeyPayload(user_errors=result)
        return RevokeApiKeyPayload(revoked_id=input.id)
