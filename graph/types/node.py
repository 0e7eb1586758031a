from decimal import Decimal

import strawberry


@strawberry.interface(description="An object with an opaque global ID, fetchable with `node`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global ID.")


def money(cents: int) -> Decimal:
    """Integer cents as a Decimal with exactly two places."""
    return Decimal(cents).scaleb(-2)
