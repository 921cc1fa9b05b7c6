"""Accounts: companies marketed and sold to; for marketing, a collection of contacts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from .. import documents
from ..errors import NotFound
from ..rules.models import ROLLUP_METHODS
from ..services import listing
from ..web.loaders import ACCOUNT_LEADS
from .common import (
    DeletePayload,
    DeleteResult,
    contains_text,
    order_input,
    raise_if,
    require_text,
    set_fields,
    stored_enum,
    time_from,
    time_until,
    vocabulary_enum,
)
from .contacts.resolvers import CONTACTS
from .custom import CUSTOM_FILTER, CUSTOM_INPUT, custom_field, custom_input
from .errors import (
    ForbiddenError,
    NotFoundError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    plugin_errors,
)
from .insights import MarketingInsights
from .leads.resolvers import LEADS
from .opportunities import OPPORTUNITIES
from .relay import Listing, RecordId, StoredNode, connection_field, load_one, object_id
from .scores import Grade

if TYPE_CHECKING:  # built from the rule files' vocabulary at import time; statically, an Enum
    RollupMethod = Enum
else:
    RollupMethod = vocabulary_enum(
        "RollupMethod",
        ROLLUP_METHODS,
        "How an account's score under a model is rolled up from its leads.",
    )


@strawberry.type(
    description="An account's score under one scoring model, rolled up from the leads of the "
    "account and of its contacts (the model's `account_rollup` in the rules)."
)
class AccountScore:
    model: str = strawberry.field(description="The scoring model's name, as in the rules.")
    score: float = strawberry.field(
        description="The rolled-up score (points, the model's scale), computed by `method` over "
        "the leads' scores.",
    )
    grade: Grade | None = strawberry.field(description="The best grade among those leads.")
    lead_count: int = strawberry.field(description="How many leads the model scored.")
    method: RollupMethod | None = strawberry.field(
        description="How the leads' scores were rolled up (the model's `account_rollup`); null "
        "when a stored method is no longer known.",
    )


@strawberry.type(description="A company you market and sell to (or a partner or vendor).")
class Account(StoredNode, collection=documents.ACCOUNTS):
    oid: relay.NodeID[str]
    name: str | None = strawberry.field(
        description="The company's name as entered; matching compares it normalised.",
    )
    domain: str | None = strawberry.field(description="Web domain, normalised (no www., scheme).")
    industry: str | None = strawberry.field(
        description="The company's industry (free text); null when not known.",
    )
    number_of_employees: int | None = strawberry.field(
        description="Headcount (a whole number, at least 0); null when not known.",
    )
    annual_revenue: float | None = strawberry.field(
        description="Yearly revenue in the company's currency, as entered (no currency is "
        "stored); null when not known.",
    )
    country: str | None = strawberry.field(
        description="The company's country, as entered; null when not known.",
    )
    scores: list[AccountScore] = strawberry.field(
        description="Scores rolled up from the account's and its contacts' leads, per model; "
        "kept current as their scores change."
    )
    created_at: datetime = strawberry.field(description="When the account was created.")
    updated_at: datetime = strawberry.field(
        description="When the account last changed (its creation time if never changed).",
    )
    _doc: strawberry.Private[Mapping[str, Any]]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Account:
        return cls(
            oid=str(doc["_id"]),
            name=doc.get("name"),
            domain=doc.get("domain"),
            industry=doc.get("industry"),
            number_of_employees=doc.get("numberOfEmployees"),
            annual_revenue=doc.get("annualRevenue"),
            country=doc.get("country"),
            scores=[
                AccountScore(
                    model=e["model"],
                    score=e["score"],
                    grade=stored_enum(Grade, e.get("grade")),
                    lead_count=e.get("leadCount", 0),
                    method=stored_enum(RollupMethod, e.get("method")),
                )
                for e in doc.get("scores") or []
            ],
            created_at=doc["createdAt"],
            updated_at=doc.get("updatedAt") or doc["createdAt"],
            _doc=doc,
        )

    contacts = connection_field(
        CONTACTS, parent_key="accountId", description="The account's contacts (its employees)."
    )
    custom = custom_field("account")
    leads = connection_field(
        LEADS,
        relation=ACCOUNT_LEADS,
        description="The account's leads: its account-based leads (parent account) and its "
        "contacts' leads (parent contact), each once: the leads its roll-ups (`scores`, "
        "`leadCount`) count.",
    )

    @strawberry.field(
        description="Marketing insights of the account: its contacts' interaction KPIs added "
        "up (interactions belong to contacts; an account is a collection of them)."
    )
    async def insights(self, info: Info) -> MarketingInsights:
        # batched with the page's other accounts (two aggregations for all of them)
        return MarketingInsights.of(
            await info.context.loaders.account_insights.load(self._doc["_id"])
        )

    opportunities = connection_field(
        OPPORTUNITIES,
        parent_key="accountId",
        description="Opportunities of the account's leads and its contacts' leads.",
    )


@strawberry.input(description="Filter accounts; all given conditions must hold.")
class AccountFilter:
    name_contains: str | None = strawberry.field(
        default=None, description="Text in the account's name, ignoring case."
    )
    domain: str | None = strawberry.field(
        default=None,
        description="The company's web domain (compared normalised: no scheme, `www.` or path).",
    )
    industry: str | None = strawberry.field(
        default=None, description="The company's industry, exactly."
    )
    country: str | None = strawberry.field(
        default=None, description="The company's country, exactly."
    )
    created_after: datetime | None = time_from()
    created_before: datetime | None = time_until()
    custom: JSON | None = strawberry.field(default=None, description=CUSTOM_FILTER)


AccountOrder = order_input(
    "Account", CREATED_AT="createdAt", UPDATED_AT="updatedAt", NAME="nameNormalized"
)


def account_query(f: AccountFilter) -> dict[str, Any]:
    return listing.query(
        documents.ACCOUNTS,
        name_contains=contains_text(f.name_contains, "filter.nameContains"),
        domain=f.domain,
        industry=f.industry,
        country=f.country,
        created_after=f.created_after,
        created_before=f.created_before,
    )


ACCOUNTS = Listing(
    Account,
    filter=AccountFilter,
    to_query=account_query,
    order=AccountOrder,
    scope_fields=("custom",),
    custom="account",
)


@strawberry.type
class AccountQuery:
    accounts = connection_field(
        ACCOUNTS, description="Accounts, filtered and ordered, as a Relay connection."
    )

    @strawberry.field(description="One account by global id.")
    async def account(self, info: Info, id: RecordId) -> Account | None:
        return await load_one(info, documents.ACCOUNTS, object_id(id, "Account"), Account.from_doc)


@strawberry.input(description="Fields of a new account.")
class CreateAccountInput:
    name: str = strawberry.field(
        description="The company's name; must not be blank.",
    )
    domain: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Web domain or site address (`https://www.contoso.com/` is stored as "
        "`contoso.com`); leads and imports link to accounts by it. Must contain a "
        "dot.",
    )
    industry: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The company's industry (free text).",
    )
    number_of_employees: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Headcount; must not be negative.",
    )
    annual_revenue: float | None = strawberry.field(
        default=strawberry.UNSET,
        description="Yearly revenue, in the company's currency (no currency is stored).",
    )
    country: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The company's country.",
    )
    custom: JSON | None = strawberry.field(default=strawberry.UNSET, description=CUSTOM_INPUT)


@strawberry.input(description="Changes to an account; omitted fields stay as they are.")
class UpdateAccountInput:
    id: relay.GlobalID = strawberry.field(description="The account to change (its global id).")
    name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The company's name; must not be blank or null.",
    )
    domain: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Web domain or site address (stored normalised, e.g. `contoso.com`); null "
        "clears it. Must contain a dot.",
    )
    industry: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The company's industry (free text); null clears it.",
    )
    number_of_employees: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Headcount; must not be negative; null clears it.",
    )
    annual_revenue: float | None = strawberry.field(
        default=strawberry.UNSET,
        description="Yearly revenue, in the company's currency; null clears it.",
    )
    country: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The company's country; null clears it.",
    )
    custom: JSON | None = strawberry.field(default=strawberry.UNSET, description=CUSTOM_INPUT)


_FIELDS = {
    "name": "name",
    "domain": "domain",
    "industry": "industry",
    "number_of_employees": "numberOfEmployees",
    "annual_revenue": "annualRevenue",
    "country": "country",
}


def account_fields(
    info: Info, input: CreateAccountInput | UpdateAccountInput, *, creating: bool
) -> dict[str, Any]:
    errors: list[tuple[str, str]] = []
    fields = set_fields(input, _FIELDS)
    require_text(fields.get("name"), "input.name", errors)
    if "name" in fields and fields["name"] is None:
        errors.append(("input.name", "must not be null"))
    employees = fields.get("numberOfEmployees")
    if employees is not None and employees < 0:
        errors.append(("input.numberOfEmployees", "must not be negative"))
    if fields.get("domain") and "." not in fields["domain"]:
        errors.append(("input.domain", "is not a domain name"))
    fields.update(custom_input(info, "account", input.custom, creating=creating, errors=errors))
    raise_if(errors)
    return fields


@strawberry.type(description="The account after the change.")
class AccountPayload:
    account: Account = strawberry.field(description="The account as stored after the change.")
    plugin_errors: list[PluginErrorType] = strawberry.field(
        default_factory=list,
        description="Plugins that failed while the account's leads were rescored (then their "
        "`scoreError` is set too).",
    )


AccountResult = Annotated[
    AccountPayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "AccountResult",
        description="What an account write answers: the account as saved, or a typed error "
        "(nothing saved).",
    ),
]


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create an account.")
    @errors_as_data
    async def create_account(
        self,
        info: Info,
        input: Annotated[
            CreateAccountInput,
            strawberry.argument(description="The new account's fields (a name at least)."),
        ],
    ) -> AccountResult:
        info.context.require("accounts:write")
        out = await info.context.services.records.create_account(
            account_fields(info, input, creating=True)
        )
        return AccountPayload(
            account=Account.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(
        description="Change an account's fields. When the rules read a changed field, the "
        "leads of the account and of its contacts are rescored before the answer."
    )
    @errors_as_data
    async def update_account(
        self,
        info: Info,
        input: Annotated[
            UpdateAccountInput,
            strawberry.argument(
                description="The account and the fields to change; omitted fields keep their value."
            ),
        ],
    ) -> AccountResult:
        principal = info.context.require("accounts:write")
        oid = object_id(input.id, "Account", "input.id")
        out = await info.context.services.records.update_account(
            oid, account_fields(info, input, creating=False), by=principal.name
        )
        if out is None:
            raise NotFound("Account", str(input.id))
        return AccountPayload(
            account=Account.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(description="Delete an account; its contacts and leads are unlinked.")
    @errors_as_data
    async def delete_account(self, info: Info, id: RecordId) -> DeleteResult:
        info.context.require("accounts:delete")
        oid = object_id(id, "Account")
        if not await info.context.services.records.delete_account(oid):
            raise NotFound("Account", str(id))
        return DeletePayload(deleted_id=relay.GlobalID("Account", str(oid)))
