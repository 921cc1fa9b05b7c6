"""The GraphQL schema: the per-domain query, mutation and subscription mixins combined.

``strawberry export-schema leadgraph.web.schema:schema`` writes ``schema.graphql``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import MaskErrors, MaxTokensLimiter, ParserCache
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from ..api import custom
from ..api.accounts import AccountMutation, AccountQuery
from ..api.audit import AuditQuery
from ..api.capture.resolvers import CaptureMutation, CaptureQuery, ImportMutation
from ..api.contacts.resolvers import ContactMutation, ContactQuery
from ..api.custom import CustomFieldsQuery
from ..api.funnel.resolvers import FunnelMutation, FunnelQuery, FunnelSubscription
from ..api.interactions.resolvers import InteractionMutation, InteractionSubscription
from ..api.leads.resolvers import LeadMutation, LeadQuery
from ..api.merge import MergeMutation, MergeQuery
from ..api.opportunities import OpportunityMutation, OpportunityQuery, OpportunitySubscription
from ..api.preview import PreviewQuery
from ..api.privacy.resolvers import PrivacyMutation, PrivacyQuery
from ..api.relay import RecordId
from ..api.rules import RulesMutation, RulesQuery
from ..api.segments.resolvers import SegmentMutation, SegmentQuery, SegmentSubscription
from ..api.webhooks import WebhookMutation, WebhookQuery
from ..config import Settings
from ..db import unavailable
from ..defaults import default_rules_dir, rules_dir_of
from ..errors import UserError
from ..rules.fields import CustomFields
from . import arguments
from .cost import CostCache, QueryCost
from .execution import FastExecutionContext
from .rate_limit import RateLimiter
from .validation import CheckedValidation, ValidationResults

log = logging.getLogger("leadgraph")


@strawberry.type(
    description="Reads: contacts, accounts, leads, opportunities and their interactions; "
    "segments and their members; the live rules, previews and history; privacy and webhooks."
)
class Query(
    ContactQuery,
    AccountQuery,
    LeadQuery,
    SegmentQuery,
    FunnelQuery,
    OpportunityQuery,
    MergeQuery,
    CaptureQuery,
    RulesQuery,
    PrivacyQuery,
    PreviewQuery,
    WebhookQuery,
    AuditQuery,
    CustomFieldsQuery,
):
    @strawberry.field(description="Any record by its global id.")
    async def node(self, info: strawberry.Info, id: RecordId) -> relay.Node | None:
        return await id.resolve_node(info, required=False)

    @strawberry.field(description="Several records by global id, in the order asked.")
    async def nodes(
        self,
        info: strawberry.Info,
        ids: Annotated[
            list[relay.GlobalID],
            strawberry.argument(description="Global ids of the records, any types mixed."),
        ],
    ) -> list[relay.Node | None]:
        # gathered, so the loaders batch them into one load per collection
        return list(await asyncio.gather(*(i.resolve_node(info, required=False) for i in ids)))


@strawberry.type(
    description="Writes: records, captures and imports, the lead lifecycle (stages, sales-ready, "
    "qualification), merges, segments, subscription lists and consent, webhooks. Each answers "
    "its payload or a typed error, and nothing is written when it answers an error."
)
class Mutation(
    ContactMutation,
    AccountMutation,
    LeadMutation,
    FunnelMutation,
    OpportunityMutation,
    InteractionMutation,
    CaptureMutation,
    ImportMutation,
    MergeMutation,
    RulesMutation,
    SegmentMutation,
    PrivacyMutation,
    WebhookMutation,
):
    pass


@strawberry.type(
    description="Live feeds over a WebSocket (graphql-transport-ws), read from the record of "
    "changes: interactions, lead changes, opportunities, segment membership."
)
class Subscription(
    InteractionSubscription, FunnelSubscription, OpportunitySubscription, SegmentSubscription
):
    pass


CLIENT, UNAVAILABLE, SERVER = "client", "unavailable", "server"


def fault(error: GraphQLError) -> str:
    """Whose fault an error is: the client's (parse, validation, limits, bad input, a typed
    refusal), an unreachable database's, or the server's own (an unexpected exception)."""
    original = error.original_error
    if original is None or isinstance(original, UserError | GlobalIDValueError | GraphQLError):
        return CLIENT
    return UNAVAILABLE if unavailable(original) else SERVER


def log_error(error: GraphQLError) -> None:
    """One log line per error: INFO for the client's (no traceback: nothing to fix here),
    WARNING for an unreachable database, ERROR with the traceback for the server's own."""
    kind = fault(error)
    where = ".".join(str(p) for p in error.path) if error.path else "the request"
    if kind == SERVER:
        log.error("unexpected error in %s", where, exc_info=error.original_error)
    elif kind == UNAVAILABLE:
        log.warning("database unavailable in %s: %s", where, error.original_error)
    else:
        log.info("client error %s in %s: %s", _code(error), where, one_line(error.message))


def _code(error: GraphQLError) -> str:
    """The ``extensions.code`` a client error will carry (leadgraph.web.view sets the same)."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if isinstance(error.original_error, GlobalIDValueError):
        return "BAD_USER_INPUT"
    if error.path is None:
        return (
            "GRAPHQL_PARSE_FAILED"
            if error.message.startswith("Syntax Error")
            else "GRAPHQL_VALIDATION_FAILED"
        )
    return str(getattr(error.original_error, "code", "BAD_USER_INPUT"))


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _should_mask(error: GraphQLError) -> bool:
    """Hide unexpected exceptions (logged with their stack by :func:`log_error`) behind a
    generic message."""
    return fault(error) != CLIENT


class LeadgraphSchema(strawberry.Schema):
    """strawberry's schema, logging each error once by whose fault it is (:func:`log_error`)
    instead of every error at ERROR with a traceback.  It remembers the custom fields it was
    built with and its rate limiter (a schema built for new fields keeps the buckets)."""

    custom_fields: CustomFields
    limiter: RateLimiter
    costs: CostCache

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            log_error(error)


class MaskInternalErrors(MaskErrors):
    """Mask unexpected errors; an unreachable database becomes a typed, retryable error."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if error.original_error is None or not unavailable(error.original_error):
            return super().anonymise_error(error)
        return GraphQLError(
            message="the database is unavailable: retry later",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "UNAVAILABLE", "retryable": True},
        )


_MASK = MaskInternalErrors(should_mask_error=_should_mask, error_message="Internal server error")


def mask_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    """``errors`` masked as the schema masks them (for the parts of an answer its extensions do
    not see: :mod:`leadgraph.web.incremental`)."""
    return _MASK._process_errors(errors)


DOCUMENT_CACHE = 1024  # parsed and validated documents kept per process (LRU)


def build_schema(
    settings: Settings | None = None,
    fields: CustomFields | None = None,
    limiter: RateLimiter | None = None,
) -> LeadgraphSchema:
    """The schema with the request limits of ``settings`` (tokens; depth, aliases and
    selections measured without expanding fragments; the deadline; cost and the per-key rate
    limit, whose buckets live as long as the schema, or ``limiter``'s) and the typed custom
    fields of ``fields`` (default: the ``fields:`` section of the rules directory of
    ``settings``; without settings, of the shipped rules, as ``schema.graphql`` is exported).

    Parsing and validation are cached per document (LRU, :data:`DOCUMENT_CACHE`; see
    :mod:`leadgraph.web.validation`), and so is the cost per document, operation and
    variables (:class:`~leadgraph.web.cost.CostCache`), and the conversion of a resolver's
    arguments per field and values (:mod:`leadgraph.web.arguments`).  Plain fields are
    answered in place (:mod:`leadgraph.web.execution`)."""
    if fields is None:  # the server's rules directory; the shipped rules' for the export
        directory = default_rules_dir() if settings is None else rules_dir_of(settings)
        fields = custom.fields_of_directory(directory)
    settings = settings or Settings()
    limiter = limiter or RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    validations = ValidationResults(settings, DOCUMENT_CACHE)
    costs = CostCache(DOCUMENT_CACHE)
    arguments.install()  # resolver arguments converted once per field and values
    custom.install(fields)
    built = LeadgraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=FastExecutionContext,
        config=StrawberryConfig(
            enable_experimental_incremental_execution=settings.incremental_delivery
        ),
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: ParserCache(maxsize=DOCUMENT_CACHE),
            lambda: CheckedValidation(validations),
            lambda: QueryCost(settings, limiter, costs),
            lambda: MaskInternalErrors(
                should_mask_error=_should_mask, error_message=_MASK.error_message
            ),
        ],
    )
    built.custom_fields = fields
    built.limiter = limiter
    built.costs = costs
    return built


schema = build_schema()
