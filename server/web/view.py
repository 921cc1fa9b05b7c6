"""The GraphQL endpoint: strawberry's ASGI view plus API-key auth and GraphQL-over-HTTP rules.

- ``Authorization: Bearer KEY`` on every GraphQL request (401 without a valid key; a key this
  process found live is trusted for ``key_cache_seconds``, :class:`~.key_states.VerifiedKeys`);
  the GraphiQL page itself loads without one.  Without a key (no ``Authorization`` header at
  all), an operation whose every top-level field is one of the subscription centre's
  (``subscriptionCentre``, ``updateSubscriptions``: their token is the credential) runs as
  the ``public`` role, rate-limited per client address; anything else is a 401.  WebSocket
  clients (graphql-transport-ws only) send the key in the ``connection_init`` payload
  (``{"Authorization": "Bearer KEY"}``) or the upgrade header.  An open socket re-reads its
  key on every ``subscribe`` message and every ``ws_recheck_seconds``: a revoked key's socket
  is closed with code 4403, a changed role applies to the operations that follow.
- Responses are ``application/graphql-response+json`` when the client accepts it (then a request
  error, i.e. a response without ``data``, is a 400) and ``application/json`` otherwise (200),
  as the GraphQL-over-HTTP spec asks.
- An unreachable database is a 503 with ``Retry-After`` (errors ``UNAVAILABLE``, retryable) when
  nothing else went wrong; subscriptions sent over HTTP are a 400 (they run over WebSocket).
  Body size, JSON shape and read time are checked before this view
  (:mod:`leadgraph.web.http_limits`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import FieldNode, GraphQLError, get_operation_ast, parse
from graphql import OperationType as AstOperation
from graphql.execution import ExperimentalIncrementalExecutionResults
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType

from ..db import unavailable
from . import batch, documents, incremental, key_states
from .auth import PUBLIC_FIELDS, PUBLIC_ROLE, Principal, bearer_token
from .context import Context
from .loaders import Loaders
from .media import (
    GRAPHIQL_CSP,
    GRAPHQL_RESPONSE,
    JSON,
    RETRY_AFTER,
    STATIC,
    acceptable,
    error_response,
    response_media_type,
)
from .persisted import PersistedQueryError, Registrar
from .schema import log_error, mask_errors
from .state import AppState
from .validation import DEADLINE
from .websocket import RecheckingTransportWS

log = logging.getLogger("leadgraph")

METHODS = ("GET", "POST")


def _only_unavailable(data: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> bool:
    """A response whose every error is ``UNAVAILABLE`` and that holds no data: a 503."""
    if not isinstance(data, dict) or not data.get("errors"):
        return False
    values = data.get("data")
    empty = values is None or all(v is None for v in values.values())
    errors: list[Any] = data.get("errors") or []
    codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
    return empty and codes == {"UNAVAILABLE"}


def _error_code(error: GraphQLError) -> str | None:
    """An ``extensions.code`` for the errors that do not carry one (None leaves it unset)."""
    if error.extensions and "code" in error.extensions:
        return None
    if isinstance(error.original_error, GlobalIDValueError):
        return "BAD_USER_INPUT"  # a garbage or unresolvable global id
    if error.path is None:  # raised before execution: parse, validation, limits
        return (
            "GRAPHQL_PARSE_FAILED"
            if error.message.startswith("Syntax Error")
            else ("GRAPHQL_VALIDATION_FAILED")
        )
    if error.original_error is None and error.message == "Internal server error":
        return "INTERNAL_SERVER_ERROR"  # masked by the schema's MaskErrors extension
    return None


def _with_codes(errors: Any) -> None:
    for error in errors:
        code = _error_code(error)
        if code is not None:
            error.extensions = {**(error.extensions or {}), "code": code}


def encode_json(data: object) -> bytes:
    """A response body: orjson (several times faster than ``json`` on large pages); what it
    cannot encode (an integer beyond 64 bits inside a JSON scalar) goes through ``json``."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


def public_operation(query: Any, operation_name: Any, max_tokens: int) -> bool:
    """Whether the operation ``operation_name`` of ``query`` is a query or mutation whose
    every top-level selection is a plain field the public may call (:data:`PUBLIC_FIELDS`)."""
    if not isinstance(query, str) or not (
        operation_name is None or isinstance(operation_name, str)
    ):
        return False
    try:
        operation = get_operation_ast(parse(query, max_tokens=max_tokens), operation_name)
    except GraphQLError:
        return False
    if operation is None or operation.operation == AstOperation.SUBSCRIPTION:
        return False
    selections = operation.selection_set.selections
    return bool(selections) and all(
        isinstance(s, FieldNode) and s.name.value in PUBLIC_FIELDS for s in selections
    )


class LeadgraphGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = RecheckingTransportWS

    def __init__(self, state: AppState, **kwargs: Any) -> None:
        # only graphql-transport-ws: the legacy graphql-ws protocol would bypass the re-checks
        kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        super().__init__(state.schema, **kwargs)
        self.state = state

    async def create_websocket_response(
        self, request: WebSocket, subprotocol: str | None
    ) -> WebSocket:
        """Accept the upgrade.  A client offering only protocols we do not speak (the legacy
        ``graphql-ws``) is accepted naming the first one it offered, and strawberry then
        closes the socket at once with 4406 "Subprotocol not acceptable": a handshake that
        names none of the offered protocols is failed by browsers and Node's ``ws`` with 1006
        before any close code arrives, so such a client could never see why."""
        offered = list(request.scope.get("subprotocols") or ())
        if subprotocol is None and offered:
            await request.accept(subprotocol=offered[0])
            return request
        return await super().create_websocket_response(request, subprotocol)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL (with the explorer), every asset served from ``/static/graphiql``."""
        return HTMLResponse(
            (STATIC / "graphiql.html").read_text(encoding="utf-8"),
            headers={
                "Content-Security-Policy": GRAPHIQL_CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    def should_render_graphql_ide(self, request: Any) -> bool:
        """GraphiQL for a GET without a query, unless it names a persisted query or document."""
        params = request.query_params
        return super().should_render_graphql_ide(request) and not (
            params.get("extensions") or params.get(documents.DOCUMENT_ID)
        )

    async def authenticate(self, header: str | None, cached: bool = False) -> Principal | None:
        """The caller of an ``Authorization`` header, read now; ``cached``: or taken from the
        keys found live within ``key_cache_seconds`` (HTTP requests)."""
        token = bearer_token(header)
        if token is None:
            return None
        if cached and self.state.verified_keys is not None:
            return await self.state.verified_keys.principal(self.state.db, token)
        return await key_states.authenticate(self.state.db, token)

    async def public_caller(self, request: Request) -> Principal | None:
        """The ``public`` caller of a request without a key that only runs the subscription
        centre's operations (see :func:`public_operation`); None for anything else."""
        if request.method == "GET":
            query = request.query_params.get("query")
            name: Any = request.query_params.get("operationName")
        else:
            try:
                body = await request.json()  # kept by starlette for the view to read again
            except Exception:
                return None
            if not isinstance(body, dict):
                return None
            query, name = body.get("query"), body.get("operationName")
        if not public_operation(query, name, self.state.settings.max_tokens):
            return None
        address = request.client.host if request.client else "unknown"
        return Principal("subscription centre", PUBLIC_ROLE, key_id=f"public:{address}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = response_media_type(request.headers.get("accept"))
        if request.method not in METHODS:
            message = f"{request.method} is not allowed here: send GET or POST"
            allow = {"Allow": ", ".join(METHODS)}
            response = error_response(405, message, "METHOD_NOT_ALLOWED", media_type, allow)
            await response(scope, receive, send)
            return
        wants_ide = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if wants_ide and not any(
            request.query_params.get(name) for name in ("query", "extensions", "documentId")
        ):
            await super().__call__(scope, receive, send)
            return
        try:
            principal = await self.authenticate(request.headers.get("authorization"), True)
        except Exception as exc:
            if not unavailable(exc):
                raise
            response = error_response(
                503, "the database is unavailable: retry later", "UNAVAILABLE", media_type
            )
            await response(scope, receive, send)
            return
        if principal is None and not request.headers.get("authorization"):
            principal = await self.public_caller(request)
        if principal is None:
            message = (
                "missing API key: send 'Authorization: Bearer KEY'"
                if not request.headers.get("authorization")
                else "invalid or revoked API key"
            )
            await error_response(401, message, "UNAUTHENTICATED", media_type)(scope, receive, send)
            return
        if not acceptable(request.headers.get("accept")):
            message = f"cannot answer in any of the accepted media types: send Accept: {JSON}"
            await error_response(406, message, "NOT_ACCEPTABLE")(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        scope["state"]["media_type"] = media_type
        scope["state"]["if_none_match"] = request.headers.get("if-none-match")
        try:
            response = await self.run(request)
        except PersistedQueryError as exc:
            log.info("refused a persisted query: %s: %s", exc.code, exc.message)
            response = error_response(exc.status, exc.message, exc.code, media_type, exc.headers)
        except batch.BatchRefused as exc:
            log.info("refused a batch: %s: %s", exc.code, exc.message)
            response = error_response(400, exc.message, exc.code, media_type)
        except HTTPException as exc:
            log.info(
                "refused %s %s: %d %s",
                request.method,
                request.url.path,
                exc.status_code,
                exc.reason,
            )
            if request.method == "GET" and isinstance(exc.__cause__, InvalidOperationTypeError):
                # GraphQL-over-HTTP: a mutation sent with GET is 405 Method Not Allowed.
                response = error_response(
                    405, exc.reason, "METHOD_NOT_ALLOWED", media_type, {"Allow": "POST"}
                )
            else:
                response = error_response(exc.status_code, exc.reason, "BAD_REQUEST", media_type)
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = self.state
        is_ws = request.scope["type"] == "websocket"
        return Context(
            db=state.db,
            loaders=Loaders(state.db, cache=not is_ws),
            settings=state.settings,
            principal=request.scope.get("state", {}).get("principal"),
            live=state.live,
            rules=state.rules,
            pm=state.pm,
            request=request,
            response=response,
            services_cache=state.services,
            segment_counts=state.segment_counts,
        )

    async def on_ws_connect(self, context: Context) -> Any:
        payload = context.connection_params or {}
        header = None
        if isinstance(payload, dict):
            header = payload.get("Authorization") or payload.get("authorization")
            if not isinstance(header, str):  # a number or an object is no key
                header = None
        if header is None and context.request is not None:
            header = context.request.headers.get("authorization")
        principal = await self.authenticate(header)
        if principal is None:
            raise ConnectionRejectionError({"reason": "invalid or missing API key"})
        context.principal = principal
        return None

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        _with_codes(result.errors or ())
        data = process_result(result)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            data.pop("data", None)  # a request error (parse/validation): no data entry
        return data

    def encode_json(self, data: object) -> str:
        """Text for WebSocket messages (sent as text frames)."""
        return encode_json(data).decode()

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Any
    ) -> Response:
        response = Response(encode_json(response_data), status_code=200, media_type=JSON)
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        if _only_unavailable(response_data):
            response.status_code = 503
            response.headers["Retry-After"] = RETRY_AFTER
        media_type = JSON
        request_state = getattr(sub_response, "request_state", None)
        if request_state is not None:
            media_type = request_state.get("media_type", JSON)
        response.headers["content-type"] = media_type
        if (
            media_type == GRAPHQL_RESPONSE
            and isinstance(response_data, dict)
            and "data" not in response_data
            and response.status_code == 200  # not when a limit already chose (429)
        ):
            response.status_code = 400
        if request_state is not None and request_state.get("persisted_get"):
            return self._cacheable(response, response_data, request_state)
        return response

    def _cacheable(
        self,
        response: Response,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        request_state: dict[str, Any],
    ) -> Response:
        """The answer to a persisted query sent with GET, with the headers HTTP caches need:
        ``Cache-Control: private`` (answers depend on the caller's key) with
        ``max-age=persisted_max_age`` or ``no-cache``, ``Vary``, a weak ``ETag`` of the body,
        and 304 for a matching ``If-None-Match``.  Answers with errors are not cacheable."""
        if (
            response.status_code != 200
            or not isinstance(response_data, dict)
            or response_data.get("errors")
        ):
            response.headers["Cache-Control"] = "no-store"
            return response
        max_age = self.state.settings.persisted_max_age
        headers = {
            "ETag": f'W/"{hashlib.sha256(bytes(response.body)).hexdigest()[:32]}"',
            "Cache-Control": f"private, max-age={max_age}" if max_age > 0 else "private, no-cache",
            "Vary": "Authorization, Accept",
        }
        if headers["ETag"] in (request_state.get("if_none_match") or ""):
            return Response(status_code=304, headers=headers)
        response.headers.update(headers)
        return response

    async def parse_http_body(
        self, request_adapter: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's, and a JSON array body as a batch (:mod:`leadgraph.web.batch`)."""
        if request_adapter.method == "POST" and "json" in (request_adapter.content_type or ""):
            body = await request_adapter.get_body()  # read once: starlette keeps it
            if batch.looks_like_batch(body):
                return batch.requests(self.parse_json(body), self.state.settings.max_batch)
            if b'"documentId"' in body:  # web/documents: kept, in the extensions
                operation = batch.element(self.parse_json(body), "the request body")
                if isinstance(operation, batch.BadElement):
                    raise HTTPException(400, operation.reason)
                return operation
        return await super().parse_http_body(request_adapter)

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        return documents.lift(super().parse_query_params(params))

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        if not isinstance(request_data, list):
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        return await batch.run(
            request_data,
            context,
            lambda data: self.execute_single(
                request, request_adapter, sub_response, context, root_value, data
            ),
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, except that subscriptions are refused (they run over WebSocket) and
        persisted queries are looked up, registered and marked cacheable
        (:mod:`leadgraph.web.persisted`)."""
        allowed = {OperationType.QUERY, OperationType.MUTATION}
        if request_adapter.method == "GET":
            allowed = {OperationType.QUERY}
        persisted = self.state.persisted
        assert persisted is not None
        registrar = Registrar.of(context.principal, self.state.settings)
        extensions = request_data.extensions
        document = await documents.resolve(persisted, context.db, request_data.query, extensions)
        query: str | None = document
        register: str | None = None
        if document is None:
            query, register = await persisted.resolve(
                context.db, request_data.query, extensions, registrar
            )
        request_data.query = query
        if self.state.settings.incremental_delivery and (
            refused := incremental.refusal(
                query,
                context.batch is not None,
                request.headers.get("accept"),
                self.state.settings.max_tokens,
            )
        ):
            return ExecutionResult(data=None, errors=[refused])
        result = await self._execute(request_adapter, context, root_value, request_data, allowed)
        first: Any = result
        if isinstance(result, ExperimentalIncrementalExecutionResults):  # @defer, @stream
            first = result.initial_result
            deadline = DEADLINE.get()
            result = incremental.guarded(result, mask_errors, _with_codes, log_error, deadline)
        request_error = first.data is None and bool(first.errors)
        if register is not None and not request_error:
            await persisted.register(context.db, register, registrar)
        if (
            request_adapter.method == "GET"
            and query is not None
            and ({"persistedQuery", documents.DOCUMENT_ID} & set(extensions or {}))
        ):
            request.scope.setdefault("state", {})["persisted_get"] = True
        return result

    async def _execute(
        self,
        request_adapter: AsyncHTTPRequestAdapter,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
        allowed: set[OperationType],
    ) -> ExecutionResult:
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except InvalidOperationTypeError as e:
            reason = e.as_http_error_reason(request_adapter.method)
            if e.operation_type is OperationType.SUBSCRIPTION:
                reason = "subscriptions run over WebSocket (graphql-transport-ws) at /graphql"
            raise HTTPException(400, reason) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.request_state = request.scope.get("state", {})  # type: ignore[attr-defined]
        return sub_response
