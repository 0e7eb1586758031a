"""updateAccount: the account's name and sender defaults."""

import strawberry
from strawberry.types.unset import UNSET

from db.usecases import accounts as uc
from graph.context import Info
from graph.errors import UserError
from graph.limits_text import ADDRESS, NAME
from graph.mutations.support import provided, write
from graph.types.account import Account


@strawberry.input(description="Change the viewer's account; fields left out keep their value.")
class UpdateAccountInput:
    name: str | None = strawberry.field(default=UNSET, description=f"The account's name. {NAME}")
    default_from_email: str | None = strawberry.field(
        default=UNSET, description=f"Default From address. {ADDRESS}"
    )
    default_from_name: str | None = strawberry.field(
        default=UNSET, description=f"Default From display name. {NAME}"
    )
    default_reply_to_email: str | None = strawberry.field(
        default=UNSET, description=f"Default Reply-To address. {ADDRESS}"
    )
    default_reply_to_name: str | None = strawberry.field(
        default=UNSET, description=f"Default Reply-To display name. {NAME}"
    )


@strawberry.type(description="Result of updateAccount.")
class AccountPayload:
    account: Account | None = strawberry.field(default=None, description="Null when refused.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of updateAccount.")
class UpdateAccountPayload(AccountPayload):
    pass


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Change the account's name and sender defaults.")
    async def update_account(self, info: Info, input: UpdateAccountInput) -> UpdateAccountPayload:
        fields = provided(input, skip=())
        result = await write(info, lambda s, a: uc.update_account(s, a, fields))
        if isinstance(result, list):
            return UpdateAccountPayload(user_errors=result)
        return UpdateAccountPayload(account=Account.from_model(result))
