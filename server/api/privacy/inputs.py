"""What the subscription centre is changed by."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON


@strawberry.input(description="What the person changes in the subscription centre.")
class UpdateSubscriptionsInput:
    subscribe: list[str] | None = strawberry.field(
        default=None, description="Active lists to join."
    )
    unsubscribe: list[str] | None = strawberry.field(default=None, description="Lists to leave.")
    unsubscribe_all: bool = strawberry.field(
        default=False,
        description="Leave every list and stop bulk email (`allowBulkEmail` false), at once.",
    )
    allow_bulk_email: bool | None = strawberry.field(
        default=None,
        description="Accept (true) or refuse (false) marketing email from journeys; null leaves "
        "it.",
    )
    custom: JSON | None = strawberry.field(
        default=None,
        description="New values of the custom fields the centre shows (`custom`), by name, each "
        "checked against its declared type; null clears one. Other fields are refused.",
    )
